// Server: the main thread. Loads the first snapshot, binds the listening sockets, starts the
// workers, and then handles signals (SIGHUP reload, SIGTERM/SIGINT drain, SIGUSR1 log reopen)
// and the admin endpoint on its own loop.
//
// Thread:   run() on the main thread. The event methods (tls_*, exchange_done, mtls_failed...)
//           are called from worker threads: they only touch atomics and the log files, whose
//           writes are whole lines under their own lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <uv.h>

#include "gateway/http/exchange.h"
#include "gateway/http/session.h"
#include "gateway/observe/access_log.h"
#include "gateway/observe/audit_log.h"
#include "gateway/observe/gateway_metrics.h"
#include "gateway/snapshot/connection_limits.h"
#include "gateway/runtime/memory_budget.h"
#include "gateway/runtime/reloader.h"
#include "gateway/snapshot/snapshot.h"
#include "gateway/snapshot/health.h"
#include "tls/stream.h"
#include "tls/tickets.h"

namespace portcullis::gateway::admin {
class AdminServer;
}

namespace portcullis::gateway::listen {
class DownstreamConnection;
}

namespace portcullis::gateway::runtime {

class Watcher;
class Worker;

class Server {
 public:
  explicit Server(std::string config_path);
  ~Server();

  // Serves until SIGTERM/SIGINT and the drain that follows. Returns the exit code.
  int run();

  // --- events from workers (any thread) ---
  void tls_handshake_done(const listen::DownstreamConnection& c, const tls::TlsSummary& s,
                          const std::string& tenant);
  // A connection refused before HTTP: TLS (event tls_reject) or PROXY header (proxy_reject).
  void tls_rejected(const listen::DownstreamConnection& c, Reason why,
                    const std::string& detail, std::string_view event = "tls_reject");
  void exchange_done(const http::ConnFacts& facts, http::Exchange& ex);
  void request_rejected(const http::ConnFacts& facts, const std::string& tenant, int status,
                        Reason why);
  // An upstream failed TLS or its identity checks: audit mtls_fail (mesh) / egress_tls_fail.
  void upstream_tls_failed(const upstream::Target& target, const std::string& address,
                           Reason why, const std::string& seen, const std::string& detail);
  void upstream_event(const upstream::Target& target, const std::string& address,
                      const std::string& event, const std::string& detail);
  // A verified upstream handshake, counted by cluster and by whether it resumed a session.
  void upstream_handshake(const upstream::Target& target, bool resumed);
  // Every egress decision is audited (egress_allow / egress_deny) and counted.
  void egress_decision(const std::string& source, const std::string& destination, bool allow,
                       const std::string& reason, const std::string& detail);
  // A connection refused by a cap: counted, not audited (a flood must not flood the audit log).
  void connection_refused(Reason why) { metrics_.rejection(to_string(why)); }
  // An open connection closed on a limit (idle_timeout): counted, not audited.
  void connection_closed_on_limit(Reason why) { metrics_.connection_closed(to_string(why)); }
  ConnectionLimits& connection_limits() noexcept { return connection_limits_; }
  // Past [limits].memory_budget, workers answer new requests with 503 (reason memory_budget).
  bool shedding() const noexcept { return memory_.shedding(); }
  void metrics_connection_opened(const std::string& listener);
  void metrics_connection_closed(const std::string& listener);

  // --- for the admin server (main thread) ---
  bool ready() const noexcept { return ready_.load() && !draining_.load(); }
  SnapshotPtr snapshot() const;
  std::string render_metrics() const;
  std::string render_config() const;

 private:
  static void on_signal(uv_signal_t* h, int signum) noexcept;
  static void on_drain_timer(uv_timer_t* h) noexcept;
  static void on_ticket_timer(uv_timer_t* h) noexcept;
  static void on_memory_timer(uv_timer_t* h) noexcept;
  // Ticket keys: from [gateway].ticket_keys (a fleet's shared file) or generated and rotated
  // hourly. False (keys unchanged) when the file cannot be used.
  bool refresh_ticket_keys(const config::Config& cfg, bool rotate);
  void reload();
  void apply_reload(BuildResult built, bool off_loop);
  void start_drain();
  void finish();
  bool bind_sockets(const Snapshot& snap, unsigned workers, std::vector<std::vector<int>>& fds);

  std::string config_path_;
  uv_loop_t loop_{};
  uv_signal_t sig_hup_{}, sig_term_{}, sig_int_{}, sig_usr1_{};
  uv_timer_t drain_timer_{};
  uv_async_t workers_done_{};
  mutable std::mutex snap_mu_;
  SnapshotPtr current_;
  std::uint64_t generation_ = 0;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<Watcher> watcher_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  std::atomic<unsigned> workers_running_{0};
  mutable observe::AccessLog access_;  // mutable: render_metrics reads its counters
  mutable observe::AuditLog audit_;
  observe::GatewayMetrics metrics_;
  upstream::HealthRegistry health_;
  ConnectionLimits connection_limits_;
  tls::TicketKeyStore tickets_;  // outlives every snapshot's front contexts
  uv_timer_t ticket_timer_{};
  MemoryBudget memory_;
  uv_timer_t memory_timer_{};
  // Last: destroyed first, so its thread is joined and the retired generations are gone before
  // what they use (tickets_, health_) is.
  Reloader reloader_;
  friend class Worker;
};

}  // namespace portcullis::gateway::runtime
