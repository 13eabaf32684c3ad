#include "gateway/runtime/server.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <exception>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unistd.h>

#include "gateway/admin/admin_auth.h"
#include "gateway/config/descriptor_limit.h"
#include "gateway/io/uv.h"
#include "gateway/listen/listener.h"
#include "gateway/runtime/cpu_quota.h"
#include "gateway/runtime/listen_sockets.h"
#include "gateway/runtime/sd_notify.h"
#include "gateway/snapshot/tenant_tls.h"
#include "gateway/runtime/tenant_expiry.h"
#include "gateway/runtime/watcher.h"
#include "gateway/runtime/worker.h"

namespace portcullis::gateway::runtime {
namespace {

// The memory budget is checked four times a second: cheap (one small /proc read) and quick
// enough to catch a surge long before the kernel OOM killer would act.
constexpr std::uint64_t kMemorySampleMs = 250;

// A successor's admin server binds the address its predecessor closes when it hands off its
// sockets: wait (bounded) until the close has happened.
void wait_for_admin_address(const std::string& listen) {
  auto hp = io::split_host_port(listen);
  sockaddr_storage addr{};
  if (!hp || !io::parse_ip(hp->host, hp->port, addr)) {
    return;
  }
  for (int i = 0; i < 200; ++i) {
    const UniqueFd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const socklen_t len =
        addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) == 0 &&
        ::listen(fd.get(), 1) == 0) {
      return;
    }
    ::usleep(10'000);
  }
}

// What the loader saw of each tenant's file, certificate, key and client CA: the watcher's
// first fingerprint (on its thread, after /readyz) compares against these.
std::vector<Watcher::Seed> watch_seeds(const Snapshot& snap) {
  std::vector<Watcher::Seed> out;
  if (!detail::tenants_on_demand(snap.config)) {
    return out;  // the watcher reads every file at once, before serving
  }
  out.reserve(snap.tenants.size() * 3);
  for (const auto& t : snap.tenants) {
    out.push_back(Watcher::Seed{&t.cfg->file, t.cfg->file_id});
    out.push_back(Watcher::Seed{&t.cfg->cert, t.tls_source.cert.identity()});
    out.push_back(Watcher::Seed{&t.cfg->key, t.tls_source.key.identity()});
    if (!t.cfg->client_ca.empty()) {
      out.push_back(Watcher::Seed{&t.cfg->client_ca, t.tls_source.client_ca.identity()});
    }
  }
  return out;
}

void print_errors(const std::vector<config::Diagnostic>& errors) {
  for (const auto& d : errors) {
    std::fprintf(stderr, "%s\n", d.format().c_str());
  }
}

}  // namespace

Server::Server(std::string config_path, bool takeover)
    : config_path_(std::move(config_path)), takeover_(takeover) {
  publish_metrics();
}

Server::~Server() = default;

SnapshotPtr Server::snapshot() const {
  std::lock_guard lock{snap_mu_};
  return current_;
}

bool Server::open_sockets(std::optional<Takeover>& takeover, unsigned workers,
                          std::vector<std::vector<int>>& fds) {
  const config::Config& cfg = current_->config;
  std::vector<PassedSocket> inherited = sd_listen_sockets();
  if (!cfg.gateway.state_dir.empty()) {
    std::string err;
    handoff_path_ = handoff_socket_path(cfg.gateway.state_dir, err);
    if (handoff_path_.empty()) {
      std::fprintf(stderr, "portcullis: hand-off: %s\n", err.c_str());
    }
  }
  if (takeover_) {
    std::string err;
    if (handoff_path_.empty()) {
      std::fprintf(stderr, "portcullis: --takeover needs [gateway].state_dir\n");
      return false;
    }
    takeover = Takeover::request(handoff_path_, err);
    if (!takeover) {
      // Nothing to take over (first start, or the old process is gone): start as usual.
      std::fprintf(stderr, "portcullis: --takeover: no running process answered (%s)\n",
                   err.c_str());
    } else {
      for (auto& p : takeover->sockets()) {
        inherited.push_back(std::move(p));
      }
    }
  }
  if (!open_listen_sockets(*current_, inherited, listen_fds_)) {
    return false;
  }
  fds.assign(workers, {});
  for (unsigned w = 0; w < workers; ++w) {
    for (const auto& fd : listen_fds_) {
      const int d = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
      if (d < 0) {
        std::fprintf(stderr, "portcullis: dup of a listening socket: %s\n", std::strerror(errno));
        for (auto& v : fds) {
          for (int x : v) {
            ::close(x);
          }
        }
        return false;
      }
      fds[w].push_back(d);
    }
  }
  return true;
}

void Server::start_handoff_server() {
  if (handoff_path_.empty()) {
    return;
  }
  HandoffServer::Callbacks cb;
  cb.sockets = [this] {
    std::vector<std::pair<std::string, int>> out;
    for (std::size_t i = 0; i < listen_fds_.size() && listen_fds_[i]; ++i) {
      const auto& l = current_->listeners[i];
      out.emplace_back(l.cfg->name + " " + l.cfg->address, listen_fds_[i].get());
    }
    return out;
  };
  // The successor binds the admin address next: it cannot share it.
  cb.handed_off = [this] {
    std::fprintf(stderr, "portcullis: hand-off: listening sockets passed to a new process\n");
    if (admin_) {
      admin_->close();
    }
  };
  // A SIGUSR2 child: systemd's main process becomes the child before it sends READY=1
  // (NotifyAccess=main accepts MAINPID from the main process only, and then only the child's).
  cb.successor_ready = [this](int pid) {
    if (!successor_ || pid == 0 || pid != successor_->pid()) {
      return;  // a `run --takeover` started by hand: not ours to name
    }
    sd_notify("MAINPID=" + std::to_string(pid));
    main_pid_moved_ = true;
    successor_->close();  // it serves now; its exit is no longer ours to report
    successor_.reset();
    std::fprintf(stderr, "portcullis: upgrade: pid %d holds the listening sockets\n", pid);
    events_.upgrade(true, "new pid " + std::to_string(pid));
  };
  cb.drain = [this] {
    std::fprintf(stderr, "portcullis: hand-off: the new process is ready\n");
    // No load balancer needs to notice: the new process already accepts on the same sockets.
    start_drain(std::chrono::milliseconds{0});
  };
  handoff_ = std::make_unique<HandoffServer>(&loop_, std::move(cb));
  std::string err;
  ::mkdir(current_->config.gateway.state_dir.c_str(), 0700);  // EEXIST is fine
  if (!handoff_->start(handoff_path_, err)) {
    std::fprintf(stderr, "portcullis: hand-off disabled: %s\n", err.c_str());
    handoff_.reset();
  }
}

bool Server::refresh_ticket_keys(const config::Config& cfg, bool rotate) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  if (!cfg.gateway.ticket_keys.empty()) {
    std::string err;
    auto keys = tls::TicketKeys::load_file(cfg.gateway.ticket_keys, err);
    if (!keys) {
      events_.ticket_keys_rejected(cfg.gateway.ticket_keys, err);
      std::fprintf(stderr, "portcullis: ticket keys: %s\n", err.c_str());
      return false;
    }
    tickets_.set(std::move(keys));
    return true;
  }
  auto current = tickets_.get();
  if (!current) {
    tickets_.set(tls::TicketKeys::generate(now));
  } else if (rotate) {
    tickets_.set(current->rotated(now));
  }
  return true;
}

void Server::on_ticket_timer(uv_timer_t* h) noexcept {
  auto& self = io::owner_of<Server>(h);
  const SnapshotPtr snap = self.snapshot();
  self.refresh_ticket_keys(snap->config, true);
}

void Server::on_memory_timer(uv_timer_t* h) noexcept {
  auto& self = io::owner_of<Server>(h);
  if (!self.memory_.sample()) {
    return;
  }
  const bool shed = self.memory_.shedding();
  const std::string detail = "in use " + std::to_string(self.memory_.in_use()) + " bytes, rss " +
                             std::to_string(self.memory_.rss()) + " bytes, budget " +
                             std::to_string(self.memory_.budget()) + " bytes";
  std::fprintf(stderr, "portcullis: memory budget: %s new requests (%s)\n",
               shed ? "shedding" : "accepting", detail.c_str());
  self.events_.memory_budget(shed, detail);
}

int Server::run() {
  // The configuration is read once. The front contexts read the ticket store at each handshake,
  // so keys set below, before any worker starts, are the ones the first handshakes use.
  BuildResult built = load_snapshot(config_path_, ++generation_, &health_, &tickets_);
  if (!built.snapshot) {
    print_errors(built.errors);
    return 1;
  }
  // Moved, not copied: `built` lives as long as run(), and a copy would pin the first
  // generation (every tenant's contexts) for the life of the process.
  current_ = std::move(built.snapshot);
  const config::Config& cfg = current_->config;
  if (std::string err; !events_.open(cfg.log.access, cfg.log.audit, cfg.log.audit_key, &err,
                                    cfg.log.access_sample) &&
                       !cfg.log.audit_key.empty()) {
    // A configured chain key that cannot be read: refuse to run with an unkeyed audit trail.
    std::fprintf(stderr, "portcullis: %s\n", err.c_str());
    return 1;
  }
  if (const std::string w = config::descriptor_limit_warning(cfg, config::soft_nofile_limit());
      !w.empty()) {
    std::fprintf(stderr, "portcullis: warning: %s\n", w.c_str());
  }
  if (!refresh_ticket_keys(cfg, false)) {
    return 1;
  }

  unsigned workers = cfg.gateway.workers;
  if (workers == 0) {
    workers = auto_workers();  // CPUs usable, capped by the cgroup quota
  }
  std::optional<Takeover> takeover;
  std::vector<std::vector<int>> fds;
  if (!open_sockets(takeover, workers, fds)) {
    return 1;
  }

  uv_loop_init(&loop_);
  for (auto [h, sig] : {std::pair{&sig_hup_, SIGHUP}, std::pair{&sig_term_, SIGTERM},
                        std::pair{&sig_int_, SIGINT}, std::pair{&sig_usr1_, SIGUSR1},
                        std::pair{&sig_usr2_, SIGUSR2}}) {
    uv_signal_init(&loop_, h);
    h->data = this;
    uv_signal_start(h, &Server::on_signal, sig);
  }
  reloader_.start(
      &loop_, [this](BuildResult built, bool off_loop) { apply_reload(std::move(built), off_loop); },
      [this] { reload(); });
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  uv_timer_init(&loop_, &ticket_timer_);
  ticket_timer_.data = this;
  {
    const auto period = static_cast<std::uint64_t>(tls::kTicketKeyRotationSeconds) * 1000;
    uv_timer_start(&ticket_timer_, &Server::on_ticket_timer, period, period);
  }
  memory_.configure(cfg.limits.memory_budget);
  memory_.sample();
  uv_timer_init(&loop_, &memory_timer_);
  memory_timer_.data = this;
  uv_timer_start(&memory_timer_, &Server::on_memory_timer, kMemorySampleMs, kMemorySampleMs);
  uv_async_init(&loop_, &workers_done_, [](uv_async_t* h) {
    auto& self = io::owner_of<Server>(h);
    if (self.workers_running_.load() == 0) {
      self.finish();
    }
  });
  workers_done_.data = this;

  if (!cfg.admin.listen.empty()) {
    if (takeover) {
      wait_for_admin_address(cfg.admin.listen);  // the old process is closing it
    }
    tls::SslCtxPtr admin_tls;
    if (!cfg.admin.cert.empty()) {
      auto built_tls =
          admin::make_admin_tls_context(cfg.admin.cert, cfg.admin.key, cfg.admin.client_ca);
      if (!built_tls.ctx) {
        std::fprintf(stderr, "portcullis: admin: %s\n", built_tls.error.c_str());
        return 1;
      }
      admin_tls = std::move(built_tls.ctx);
    }
    admin_ = std::make_unique<admin::AdminServer>(*this, &loop_);
    if (!admin_->start(cfg.admin.listen, std::move(admin_tls))) {
      std::fprintf(stderr, "portcullis: admin: cannot listen on %s\n", cfg.admin.listen.c_str());
      return 1;
    }
  }

  for (const auto& t : cfg.tenants) {
    for (const auto& c : t.clusters) {
      if (c.plaintext) {
        events_.plaintext_upstream(t.name, c.name);
      }
    }
  }
  events_.config_loaded(false, current_->generation, config_path_);
  for (const auto& q : current_->config.quarantined) {
    log_tenant_state(q, Reason::tenant_quarantined);
  }
  // A tenant built on demand whose files fail at its first handshake (any worker thread).
  tls::ContextCache::instance().set_failure_hook(
      [this](const std::string& tenant, const std::string& file, const std::string& error) {
        std::fprintf(stderr, "portcullis: tenant %s (%s) quarantined: %s\n", tenant.c_str(),
                     file.c_str(), error.c_str());
        events_.tenant_state(tenant, file, Reason::tenant_quarantined, error);
      });
  events_.config_published(*current_);
  scan_tenant_expiry(*current_);

  watcher_ = std::make_unique<Watcher>(&loop_, [this](std::vector<std::string> changed) {
    reload(std::move(changed));
  });
  watcher_->start(config_path_, cfg, watch_seeds(*current_), current_);
  if (cfg.acme.enabled) {
    // Its threads order certificates; the files it writes come back through the Watcher.
    acme_ = std::make_unique<acme::Manager>(
        [this](observe::AuditEvent e, bool ok, Reason why, const std::string& tenant,
               const std::string& detail) { events_.acme(e, ok, why, tenant, detail); },
        &events_.metrics_registry());
    acme_->update(cfg);
  }

  workers_running_ = workers;
  for (unsigned i = 0; i < workers; ++i) {
    Worker::Shared shared{events_, connection_limits_, memory_, [this] {
                            // The last worker out lets the main loop finish.
                            workers_running_.fetch_sub(1);
                            uv_async_send(&workers_done_);
                          }};
    workers_.push_back(std::make_unique<Worker>(std::move(shared), i, current_, std::move(fds[i])));
  }
  for (auto& w : workers_) {
    w->start();
  }
  ready_ = true;
  std::fprintf(stderr, "portcullis: serving with %u worker(s), generation %llu\n", workers,
               static_cast<unsigned long long>(current_->generation));
  if (takeover) {
    std::string err;
    if (!takeover->finish(err)) {
      std::fprintf(stderr, "portcullis: hand-off: %s\n", err.c_str());
    }
    takeover.reset();
  }
  start_handoff_server();
  sd_notify("READY=1\nMAINPID=" + std::to_string(::getpid()));
  uv_run(&loop_, UV_RUN_DEFAULT);
  for (auto& w : workers_) {
    w->join();
  }
  workers_.clear();
  uv_loop_close(&loop_);
  std::fprintf(stderr, "portcullis: stopped\n");
  return 0;
}

void Server::on_signal(uv_signal_t* h, int signum) noexcept {
  auto& self = io::owner_of<Server>(h);
  switch (signum) {
    case SIGHUP: self.reload(); break;
    case SIGUSR1:
      self.events_.reopen_logs();
      break;
    case SIGUSR2: self.start_upgrade(); break;
    case SIGTERM: self.start_drain(self.current_->config.gateway.drain_delay); break;
    // SIGINT is a person at a terminal, not an orchestrator: no load balancer to wait for.
    default: self.start_drain(std::chrono::milliseconds{0}); break;
  }
}

void Server::start_upgrade() {
  if (draining_.load()) {
    std::fprintf(stderr, "portcullis: upgrade: ignored, this process is draining\n");
    return;
  }
  if (successor_) {
    std::fprintf(stderr, "portcullis: upgrade: ignored, pid %d is already starting\n",
                 successor_->pid());
    return;
  }
  if (!handoff_) {
    upgrade_refused("no hand-off socket ([gateway].state_dir)");
    return;
  }
  const std::vector<std::string> argv = upgrade_command(self_argv_);
  successor_ = std::make_unique<Successor>(&loop_, [this](int pid, std::int64_t status, int sig) {
    successor_.reset();
    upgrade_refused("new process " + std::to_string(pid) +
                    (sig != 0 ? " killed by signal " + std::to_string(sig)
                              : " exited with status " + std::to_string(status)) +
                    " before taking over");
  });
  std::string err;
  if (!successor_->start(argv, err)) {
    successor_.reset();
    upgrade_refused(err);
    return;
  }
  std::fprintf(stderr, "portcullis: upgrade: started %s --takeover as pid %d\n", argv[0].c_str(),
               successor_->pid());
}

void Server::upgrade_refused(const std::string& why) {
  // The sockets never left this process (or came back when the child closed its copies).
  std::fprintf(stderr, "portcullis: upgrade refused: %s; this process keeps serving\n",
               why.c_str());
  sd_notify("STATUS=upgrade refused (" + why + "), the running process keeps serving");
  events_.upgrade(false, why);
}

void Server::start_drain(std::chrono::milliseconds delay) {
  if (draining_.exchange(true)) {
    return;
  }
  if (!main_pid_moved_) {
    sd_notify("STOPPING=1");  // after an upgrade the successor is the service: it is not stopping
  }
  // /readyz answers 503 from now on (ready()); the listeners keep accepting until the delay
  // is over, so connections a load balancer sends before its health checks notice are served.
  std::fprintf(stderr, "portcullis: draining: not ready; accepting for %lld ms more\n",
               static_cast<long long>(delay.count()));
  if (watcher_) {
    watcher_->close();
  }
  uv_timer_start(&drain_timer_, &Server::on_drain_delay, static_cast<std::uint64_t>(delay.count()),
                 0);
}

void Server::on_drain_delay(uv_timer_t* h) noexcept {
  io::owner_of<Server>(h).stop_accepting();
}

void Server::stop_accepting() {
  std::fprintf(stderr, "portcullis: draining: listeners closed\n");
  // The workers close their dups; with these the socket closes (unless a successor has it).
  listen_fds_.clear();
  for (auto& w : workers_) {
    w->drain();
  }
  const auto timeout = static_cast<std::uint64_t>(current_->config.gateway.drain_timeout.count());
  uv_timer_start(&drain_timer_, &Server::on_drain_timer, timeout, 0);
}

void Server::on_drain_timer(uv_timer_t* h) noexcept {
  auto& self = io::owner_of<Server>(h);
  std::fprintf(stderr, "portcullis: drain timeout; closing the remaining connections\n");
  for (auto& w : self.workers_) {
    w->stop();
  }
}

void Server::finish() {
  uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&ticket_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&memory_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&workers_done_), nullptr);
  successor_.reset();  // stops watching; a child that took over keeps serving
  for (auto* h : {&sig_hup_, &sig_term_, &sig_int_, &sig_usr1_, &sig_usr2_}) {
    uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
  }
  if (admin_) {
    admin_->close();
  }
  if (handoff_) {
    handoff_->close();
  }
  if (acme_) {
    acme_->stop();
  }
  if (watcher_) {
    watcher_->close();
  }
  reloader_.close();  // its release timer; the retired generations go with the Server
}

}  // namespace portcullis::gateway::runtime
