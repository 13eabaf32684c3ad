#include "gateway/runtime/server.h"

#include <cstdio>
#include <exception>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unistd.h>

#include "gateway/config/descriptor_limit.h"
#include "gateway/io/uv.h"
#include "gateway/listen/listener.h"
#include "gateway/runtime/watcher.h"
#include "gateway/runtime/worker.h"

namespace portcullis::gateway::runtime {
namespace {

// The memory budget is checked four times a second: cheap (one small /proc read) and quick
// enough to catch a surge long before the kernel OOM killer would act.
constexpr std::uint64_t kMemorySampleMs = 250;

void print_errors(const std::vector<config::Diagnostic>& errors) {
  for (const auto& d : errors) {
    std::fprintf(stderr, "%s\n", d.format().c_str());
  }
}

}  // namespace

Server::Server(std::string config_path) : config_path_(std::move(config_path)) {
  publish_metrics();
}

Server::~Server() = default;

SnapshotPtr Server::snapshot() const {
  std::lock_guard lock{snap_mu_};
  return current_;
}

bool Server::bind_sockets(const Snapshot& snap, unsigned workers,
                          std::vector<std::vector<int>>& fds) {
  fds.assign(workers, {});
  for (const auto& l : snap.listeners) {
    sockaddr_storage addr = l.addr;
    for (unsigned w = 0; w < workers; ++w) {
      const int fd = listen::bind_listen_socket(reinterpret_cast<const sockaddr*>(&addr));
      if (fd < 0) {
        std::fprintf(stderr, "portcullis: listener %s: cannot listen on %s: %s\n",
                     l.cfg->name.c_str(), l.cfg->address.c_str(), uv_strerror(fd));
        return false;
      }
      if (w == 0) {
        // Port 0: every worker must share the port the kernel picked for the first socket.
        socklen_t len = sizeof addr;
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        std::fprintf(stderr, "portcullis: listening %s %s\n", l.cfg->name.c_str(),
                     io::to_string(reinterpret_cast<const sockaddr*>(&addr)).c_str());
      }
      fds[w].push_back(fd);
    }
  }
  return true;
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
  events_.open(cfg.log.access, cfg.log.audit);
  if (const std::string w = config::descriptor_limit_warning(cfg, config::soft_nofile_limit());
      !w.empty()) {
    std::fprintf(stderr, "portcullis: warning: %s\n", w.c_str());
  }
  if (!refresh_ticket_keys(cfg, false)) {
    return 1;
  }

  unsigned workers = cfg.gateway.workers;
  if (workers == 0) {
    workers = std::max(1u, std::thread::hardware_concurrency());
  }
  std::vector<std::vector<int>> fds;
  if (!bind_sockets(*current_, workers, fds)) {
    return 1;
  }

  uv_loop_init(&loop_);
  for (auto [h, sig] : {std::pair{&sig_hup_, SIGHUP}, std::pair{&sig_term_, SIGTERM},
                        std::pair{&sig_int_, SIGINT}, std::pair{&sig_usr1_, SIGUSR1}}) {
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
    admin_ = std::make_unique<admin::AdminServer>(*this, &loop_);
    if (!admin_->start(cfg.admin.listen)) {
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

  watcher_ = std::make_unique<Watcher>(&loop_, [this] { reload(); });
  watcher_->rebuild(config_path_, cfg);
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
    default: self.start_drain(); break;
  }
}

void Server::start_drain() {
  if (draining_.exchange(true)) {
    return;
  }
  std::fprintf(stderr, "portcullis: draining\n");
  if (watcher_) {
    watcher_->close();
  }
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
  for (auto* h : {&sig_hup_, &sig_term_, &sig_int_, &sig_usr1_}) {
    uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
  }
  if (admin_) {
    admin_->close();
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
