// Server: the main thread. Loads the first snapshot, binds the listening sockets, starts the
// workers, and then handles signals (SIGHUP reload, SIGTERM/SIGINT drain, SIGUSR1 log reopen)
// and the admin endpoint on its own loop.
//
// Files:    server.cc (lifecycle: run, signals, ticket keys, memory budget, drain),
//           server_reload.cc (reload build and apply), admin_views.cc (/metrics and /config).
// Thread:   run() on the main thread. Workers never see the Server: they get the events sink,
//           the connection limits and the memory budget through Worker::Shared.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <uv.h>

#include "gateway/acme/manager.h"
#include "gateway/admin/admin_server.h"
#include "gateway/events/events.h"
#include "gateway/runtime/handoff.h"
#include "gateway/runtime/memory_budget.h"
#include "gateway/runtime/reloader.h"
#include "gateway/runtime/upgrade.h"
#include "gateway/snapshot/connection_limits.h"
#include "gateway/snapshot/health.h"
#include "gateway/snapshot/snapshot.h"
#include "tls/tickets.h"

namespace portcullis::gateway::runtime {

class Watcher;
class Worker;

// What a reload changed that the main loop must redo (server_reload.cc): the watched files
// (tenants' certificates, keys, CAs) and the metric families' shape (tenants, clusters, routes).
// O(1) work per tenant that both generations share.
struct TenantDelta {
  bool same_files = false;
  bool same_shape = false;
};
TenantDelta tenant_delta(const Snapshot& before, const Snapshot& after);

class Server final : public admin::AdminViews {
 public:
  // `takeover`: take the listening sockets of the process serving [gateway].state_dir, then
  // tell it to drain (runtime/handoff.h).
  explicit Server(std::string config_path, bool takeover = false);
  ~Server();

  // Serves until SIGTERM/SIGINT and the drain that follows. Returns the exit code.
  int run();
  // SIGUSR2 starts `self` (argv[0] resolved at start, and the same arguments) with --takeover
  // and drains once it holds the sockets (runtime/upgrade.h). Empty: SIGUSR2 is refused.
  void set_upgrade_command(std::vector<std::string> self) { self_argv_ = std::move(self); }

  // admin::AdminViews (main thread)
  bool ready() const noexcept override { return ready_.load() && !draining_.load(); }
  std::string metrics_text() const override;
  std::string config_json() const override;
  std::string audit_denials_json() const override;
  admin::AdminAccess admin_access() const override;
  void admin_rejected(const std::string& client, const std::string& path) override;

  SnapshotPtr snapshot() const;

 private:
  static void on_signal(uv_signal_t* h, int signum) noexcept;
  static void on_drain_delay(uv_timer_t* h) noexcept;
  static void on_drain_timer(uv_timer_t* h) noexcept;
  static void on_ticket_timer(uv_timer_t* h) noexcept;
  static void on_memory_timer(uv_timer_t* h) noexcept;
  // Ticket keys: from [gateway].ticket_keys (a fleet's shared file) or generated and rotated
  // hourly. False (keys unchanged) when the file cannot be used.
  bool refresh_ticket_keys(const config::Config& cfg, bool rotate);
  void reload(std::vector<std::string> changed = {});  // changed: the watcher's paths, or all
  void apply_reload(BuildResult built, bool off_loop);
  void report_tenant_states(const Snapshot& before, const Snapshot& after);
  void report_cert_changes(const Snapshot& before, const Snapshot& after);
  void log_tenant_state(const config::QuarantinedTenant& q, Reason why);
  // Phase 1: not ready, still serving, for `delay`; phase 2 (stop_accepting): listeners
  // closed, connections drained, drain_timeout; then the exit.
  void start_drain(std::chrono::milliseconds delay);
  // SIGUSR2: the binary upgrade; the refusal (and its audit line) when it cannot start.
  void start_upgrade();
  void upgrade_refused(const std::string& why);
  void stop_accepting();
  void finish();
  // One socket per listener (listen_fds_): inherited or bound; each worker gets dups.
  bool open_sockets(std::optional<Takeover>& takeover, unsigned workers,
                    std::vector<std::vector<int>>& fds);
  // After the first READY: answer successors on <state_dir>/handoff.sock.
  void start_handoff_server();
  // Registers health, certificate, memory and log families on events_' registry
  // (admin_views.cc).
  void publish_metrics();

  std::string config_path_;
  bool takeover_ = false;
  std::string handoff_path_;         // "" when [gateway].state_dir is ""
  std::vector<UniqueFd> listen_fds_;  // one per listener, until the drain stops accepting
  std::unique_ptr<HandoffServer> handoff_;
  uv_loop_t loop_{};
  uv_signal_t sig_hup_{}, sig_term_{}, sig_int_{}, sig_usr1_{}, sig_usr2_{};
  std::vector<std::string> self_argv_;
  std::unique_ptr<Successor> successor_;  // the SIGUSR2 child, until it exits or takes over
  bool main_pid_moved_ = false;           // systemd's MAINPID is the successor's now
  uv_timer_t drain_timer_{};  // drain_delay, then drain_timeout
  uv_async_t workers_done_{};
  mutable std::mutex snap_mu_;
  SnapshotPtr current_;
  std::uint64_t generation_ = 0;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::chrono::steady_clock::time_point admin_audit_window_{};  // admin_rejected's audit cap
  unsigned admin_audited_ = 0;
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<Watcher> watcher_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  std::atomic<unsigned> workers_running_{0};
  events::Events events_;  // the workers' door to logs and metrics; run() joins them first
  upstream::HealthRegistry health_;
  ConnectionLimits connection_limits_;
  tls::TicketKeyStore tickets_;  // outlives every snapshot's front contexts
  uv_timer_t ticket_timer_{};
  MemoryBudget memory_;
  uv_timer_t memory_timer_{};
  std::unique_ptr<acme::Manager> acme_;  // [acme]: before events_ goes, its threads are joined
  // Destroyed first, so its thread is joined and the retired generations are gone before what
  // they use (tickets_, health_) is.
  Reloader reloader_;
  // Last: the /metrics callbacks that read this Server stop before any member goes.
  std::vector<observe::CallbackRegistration> published_;
};

}  // namespace portcullis::gateway::runtime
