#include "gateway/runtime/server.h"

#include <cstdio>
#include <exception>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unistd.h>

#include "gateway/admin/admin_server.h"
#include "gateway/config/descriptor_limit.h"
#include "gateway/io/uv.h"
#include "gateway/listen/downstream_connection.h"
#include "gateway/listen/listener.h"
#include "gateway/runtime/watcher.h"
#include "gateway/runtime/worker.h"

namespace portcullis::gateway::runtime {
namespace {

// The memory budget is checked four times a second: cheap (one small /proc read) and quick
// enough to catch a surge long before the kernel OOM killer would act.
constexpr std::uint64_t kMemorySampleMs = 250;

const std::string& metrics_cluster(const upstream::Target& t) {
  return t.metrics_cluster.empty() ? t.name : t.metrics_cluster;
}

void print_errors(const std::vector<config::Diagnostic>& errors) {
  for (const auto& d : errors) {
    std::fprintf(stderr, "%s\n", d.format().c_str());
  }
}

std::int64_t elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

Server::Server(std::string config_path) : config_path_(std::move(config_path)) {}

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
      observe::AuditSubject subject;
      subject.file = cfg.gateway.ticket_keys;
      subject.detail = err;
      audit_.record("ticket_keys", observe::Decision::deny, "invalid_ticket_keys", subject);
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
  observe::AuditSubject subject;
  subject.detail = detail;
  self.audit_.record(observe::kEventMemoryBudget,
                     shed ? observe::Decision::deny : observe::Decision::allow,
                     shed ? "memory_budget" : "memory_recovered", subject);
}

int Server::run() {
  {
    // The key file is read before the snapshot so the first handshakes already use it.
    config::LoadResult pre = config::load(config_path_);
    if (pre.ok() && !refresh_ticket_keys(*pre.config, false)) {
      return 1;
    }
  }
  BuildResult built = load_snapshot(config_path_, ++generation_, &health_, &tickets_);
  if (!built.snapshot) {
    print_errors(built.errors);
    return 1;
  }
  // Moved, not copied: `built` lives as long as run(), and a copy would pin the first
  // generation (every tenant's contexts) for the life of the process.
  current_ = std::move(built.snapshot);
  const config::Config& cfg = current_->config;
  access_.open(cfg.log.access);
  audit_.open(cfg.log.audit);
  if (const std::string w = config::descriptor_limit_warning(cfg, config::soft_nofile_limit());
      !w.empty()) {
    std::fprintf(stderr, "portcullis: warning: %s\n", w.c_str());
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
        audit_.plaintext_upstream(t.name, c.name);
      }
    }
  }
  {
    audit_.config_loaded(false, current_->generation, config_path_);
  }

  watcher_ = std::make_unique<Watcher>(&loop_, [this] { reload(); });
  watcher_->rebuild(config_path_, cfg);

  workers_running_ = workers;
  for (unsigned i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(*this, i, current_, std::move(fds[i])));
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
      self.access_.reopen();
      self.audit_.reopen();
      break;
    default: self.start_drain(); break;
  }
}

namespace {

// One reload build, on the Reloader's background thread or inline. Never throws: it may run on a
// thread of its own or under a libuv callback.
BuildResult build_reload(const std::string& config_path, std::uint64_t generation,
                         upstream::HealthRegistry* health, const tls::TicketKeyStore* tickets,
                         const Snapshot* previous,
                         std::chrono::steady_clock::time_point asked) noexcept {
  BuildResult built;
  try {
    built = load_snapshot(config_path, generation, health, tickets, previous);
  } catch (const std::exception& e) {  // out of memory: refuse the reload, keep serving
    built = BuildResult{};
    built.errors.push_back(config::Diagnostic{config::Diagnostic::Severity::error,
                                              config::Pos{config_path, 0, 0},
                                              std::string("reload failed: ") + e.what(), ""});
  }
  built.build_ms = elapsed_ms(asked);  // from the request: time queued counts too
  return built;
}

}  // namespace

// A reload builds its snapshot off the main loop when it is big (see Reloader): with 100k
// tenants a build takes seconds to minutes, and the main loop must keep answering /healthz and
// /readyz (a liveness probe would restart the gateway) and handling signals meanwhile.
void Server::reload() {
  if (draining_) {
    return;
  }
  // The running generation lends the contexts of unchanged tenants: pinned until the build ends.
  reloader_.request(current_->tenants.size(),
                    [path = config_path_, generation = generation_ + 1, health = &health_,
                     tickets = &tickets_, previous = current_,
                     asked = std::chrono::steady_clock::now()]() {
                      return build_reload(path, generation, health, tickets, previous.get(),
                                          asked);
                    });
}

// The build is back on the main thread: publish it, or refuse it and keep the running one.
void Server::apply_reload(BuildResult built, bool off_loop) {
  if (draining_) {
    return;
  }
  if (built.snapshot && !refresh_ticket_keys(built.snapshot->config, false)) {
    built.errors.push_back(config::Diagnostic{config::Diagnostic::Severity::error,
                                              config::Pos{built.snapshot->config.gateway.ticket_keys,
                                                          0, 0},
                                              "ticket key file refused", ""});
    built.snapshot.reset();
  }
  if (built.snapshot) {
    // Listening sockets outlive generations; changing them needs a restart.
    const auto& a = current_->listeners;
    const auto& b = built.snapshot->listeners;
    bool same = a.size() == b.size();
    for (std::size_t i = 0; same && i < a.size(); ++i) {
      same = a[i].cfg->name == b[i].cfg->name && a[i].cfg->address == b[i].cfg->address;
    }
    if (!same) {
      built.errors.push_back(config::Diagnostic{config::Diagnostic::Severity::error,
                                                config::Pos{config_path_, 0, 0},
                                                "listeners changed: restart to apply", ""});
      built.snapshot.reset();
    }
  }
  if (!built.snapshot) {
    std::string detail;
    for (const auto& d : built.errors) {
      detail += (detail.empty() ? "" : "; ") + d.format();
    }
    audit_.config_rejected(true, config_path_, detail);
    for (const auto& d : built.errors) {
      const std::string& f = d.pos.file;
      if (f.size() > 4 && (f.ends_with(".pem") || f.ends_with(".key") || f.ends_with(".crt") ||
                           d.message.find("certificate") != std::string::npos)) {
        observe::AuditSubject subject;
        subject.file = f;
        subject.detail = d.message + "; the running certificate keeps serving";
        audit_.record(observe::kEventCertReload, observe::Decision::deny, "invalid_certificate",
                      subject);
      }
    }
    metrics_.reload_result(false);
    std::fprintf(stderr, "portcullis: reload refused, keeping generation %llu: %s\n",
                 static_cast<unsigned long long>(generation_), detail.c_str());
    return;
  }
  ++generation_;
  // Certificates that changed with this reload: one cert_reload line each. By name (names are
  // unique: "mesh", "tenant:NAME"); a pairwise scan is quadratic in the tenant count.
  std::unordered_map<std::string_view, std::string_view> before;
  before.reserve(current_->certs.size());
  for (const auto& c : current_->certs) {
    before.emplace(c.name, c.sha256);
  }
  for (const auto& now : built.snapshot->certs) {
    const auto it = before.find(now.name);
    if (it == before.end() || it->second != now.sha256) {
      audit_.cert_reloaded(now.name, now.file);
    }
  }
  SnapshotPtr replaced = current_;
  {
    std::lock_guard lock{snap_mu_};
    current_ = built.snapshot;
  }
  for (auto& w : workers_) {
    w->publish(built.snapshot);
  }
  memory_.configure(built.snapshot->config.limits.memory_budget);
  audit_.config_loaded(true, generation_, config_path_);
  watcher_->rebuild(config_path_, built.snapshot->config);
  metrics_.reload_result(true);
  metrics_.set_generation(generation_);
  reloader_.retire(std::move(replaced));  // freed later, off the loop, if big
  std::fprintf(stderr, "portcullis: reloaded, generation %llu, built in %lld ms %s (%zu "
               "tenant contexts built, %zu unchanged and reused)\n",
               static_cast<unsigned long long>(generation_),
               static_cast<long long>(built.build_ms),
               off_loop ? "off the main loop" : "on the main loop", built.tenants_built,
               built.tenants_reused);
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
  if (watcher_) {
    watcher_->close();
  }
  reloader_.close();  // its release timer; the retired generations go with the Server
}

// --- events from workers ---

void Server::tls_handshake_done(const listen::DownstreamConnection& c, const tls::TlsSummary& s,
                                const std::string& tenant) {
  (void)c;
  metrics_.handshake(tenant, s.version, s.resumed);
}

void Server::tls_rejected(const listen::DownstreamConnection& c, Reason why,
                          const std::string& detail, std::string_view event) {
  metrics_.handshake_failed(to_string(why));
  observe::AuditSubject subject;
  subject.source = c.facts().client_ip + ":" + std::to_string(c.facts().client_port);
  subject.destination = "listener " + c.facts().listener;
  if (!detail.empty()) {
    subject.detail = detail;
  }
  audit_.record(event, observe::Decision::deny, to_string(why), subject);
  if (event != "tls_reject") {
    metrics_.rejection(to_string(why));
  }
}

void Server::exchange_done(const http::ConnFacts& facts, http::Exchange& ex) {
  const auto& info = ex.info();
  const auto& req = ex.request();
  observe::AccessRecord a;
  a.tenant = info.tenant;
  a.listener = facts.listener;
  const std::string client = facts.client_ip + ":" + std::to_string(facts.client_port);
  a.client = client;
  a.sni = facts.sni;
  a.tls_version = facts.tls_version;
  a.alpn = facts.alpn;
  a.method = req.method;
  a.authority = info.authority.empty() ? req.authority : info.authority;
  a.path = req.path;
  a.status = ex.response().status;
  a.bytes_in = info.bytes_in;
  a.bytes_out = info.bytes_out;
  a.duration_ms = elapsed_ms(info.start);
  a.upstream = info.upstream;
  a.upstream_identity = info.upstream_identity;
  a.request_id = info.request_id;
  a.reason = info.reason == Reason::none ? "" : to_string(info.reason);
  a.source_identity = facts.source_identity;
  access_.log(a);
  metrics_.request(info.tenant, info.route, info.cluster, ex.response().status,
                   info.reason == Reason::none ? "" : to_string(info.reason),
                   static_cast<double>(elapsed_ms(info.start)) / 1000.0);
}

void Server::request_rejected(const http::ConnFacts& facts, const std::string& tenant, int status,
                              Reason why) {
  (void)facts;
  metrics_.request(tenant, "", "", status, to_string(why), 0.0);
}

void Server::upstream_tls_failed(const upstream::Target& target, const std::string& address,
                                 Reason why, const std::string& seen, const std::string& detail) {
  observe::AuditSubject subject;
  subject.destination = target.name;
  if (target.egress) {
    subject.source = target.source;
  }
  subject.identity = seen.empty() ? "none" : seen;
  const std::string& expected = target.expect_uri.empty() ? target.expect_dns : target.expect_uri;
  subject.detail = "address " + address + "; expected " + expected +
                   (detail.empty() ? "" : "; " + detail);
  audit_.record(target.egress ? "egress_tls_fail" : observe::kEventMtlsFail,
                observe::Decision::deny, to_string(why), subject);
  metrics_.upstream_failure(metrics_cluster(target), std::string(to_string(why)));
}

void Server::upstream_event(const upstream::Target& target, const std::string& address,
                            const std::string& event, const std::string& detail) {
  (void)address;
  (void)detail;
  metrics_.upstream_failure(metrics_cluster(target), event);
}

void Server::upstream_handshake(const upstream::Target& target, bool resumed) {
  metrics_.upstream_handshake(metrics_cluster(target), resumed);
}

void Server::egress_decision(const std::string& source, const std::string& destination,
                             bool allow, const std::string& reason, const std::string& detail) {
  observe::AuditSubject subject;
  subject.source = source;
  subject.destination = destination;
  if (!detail.empty()) {
    subject.detail = detail;
  }
  audit_.record(allow ? observe::kEventEgressAllow : observe::kEventEgressDeny,
                allow ? observe::Decision::allow : observe::Decision::deny, reason, subject);
  metrics_.egress(allow ? "allow" : "deny", reason);
}

void Server::metrics_connection_opened(const std::string& listener) {
  metrics_.connection(listener, +1);
}

void Server::metrics_connection_closed(const std::string& listener) {
  metrics_.connection(listener, -1);
}

std::string Server::render_metrics() const {
  std::string out = metrics_.render();
  out += health_.render();
  const SnapshotPtr snap = snapshot();
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  out += "# HELP portcullis_certificate_expiry_seconds Seconds until the certificate expires.\n"
         "# TYPE portcullis_certificate_expiry_seconds gauge\n";
  for (const auto& c : snap->certs) {
    out += "portcullis_certificate_expiry_seconds{certificate=\"" + observe::label_value(c.name) +
           "\"} " + std::to_string(c.not_after - now) + "\n";
  }
  out += "# HELP portcullis_memory_rss_bytes Resident memory of the gateway process.\n"
         "# TYPE portcullis_memory_rss_bytes gauge\n"
         "portcullis_memory_rss_bytes " + std::to_string(memory_.rss()) + "\n";
  out += "# HELP portcullis_memory_budget_bytes [limits].memory_budget in bytes (0 = off).\n"
         "# TYPE portcullis_memory_budget_bytes gauge\n"
         "portcullis_memory_budget_bytes " + std::to_string(memory_.budget()) + "\n";
  out += "# HELP portcullis_memory_in_use_bytes Memory the budget is charged: heap in use plus "
         "non-heap resident.\n# TYPE portcullis_memory_in_use_bytes gauge\n"
         "portcullis_memory_in_use_bytes " + std::to_string(memory_.in_use()) + "\n";
  out += "# HELP portcullis_memory_trims_total Freed heap handed back to the kernel (malloc_trim).\n"
         "# TYPE portcullis_memory_trims_total counter\n"
         "portcullis_memory_trims_total " + std::to_string(memory_.trims()) + "\n";
  out += "# HELP portcullis_memory_shedding 1 while new requests are shed for memory.\n"
         "# TYPE portcullis_memory_shedding gauge\n"
         "portcullis_memory_shedding " + std::to_string(memory_.shedding() ? 1 : 0) + "\n";
  out += "# HELP portcullis_access_log_write_failures_total Log lines that could not be written.\n"
         "# TYPE portcullis_access_log_write_failures_total counter\n";
  out += "portcullis_access_log_write_failures_total{log=\"access\"} " +
         std::to_string(access_.file().write_failures()) + "\n";
  out += "portcullis_access_log_write_failures_total{log=\"audit\"} " +
         std::to_string(audit_.file().write_failures()) + "\n";
  return out;
}

}  // namespace portcullis::gateway::runtime

namespace portcullis::gateway::runtime {
namespace {

std::string js(std::string_view s) {
  std::string out;
  observe::JsonLine::append_escaped(out, s);  // quotes included
  return out;
}

std::string js_list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    out += (i ? "," : "") + js(v[i]);
  }
  return out + "]";
}

}  // namespace

// The running configuration without key material: key paths and ticket key paths are left out.
std::string Server::render_config() const {
  const SnapshotPtr snap = snapshot();
  const config::Config& c = snap->config;
  std::string o = "{\"generation\":" + std::to_string(snap->generation);
  o += ",\"gateway\":{\"workers\":" + std::to_string(c.gateway.workers) +
       ",\"tenants_dir\":" + js(c.gateway.tenants_dir) +
       ",\"drain_timeout_ms\":" + std::to_string(c.gateway.drain_timeout.count()) + "}";
  o += ",\"mesh\":{\"trust_domain\":" + js(c.mesh.trust_domain) + ",\"ca\":" + js(c.mesh.ca) +
       ",\"cert\":" + js(c.mesh.cert) + ",\"identity\":" + js(snap->gateway_identity) + "}";
  o += ",\"listeners\":[";
  for (std::size_t i = 0; i < c.listeners.size(); ++i) {
    const auto& l = c.listeners[i];
    o += std::string(i ? "," : "") + "{\"name\":" + js(l.name) + ",\"kind\":" +
         js(l.kind == config::ListenerConfig::Kind::ingress ? "ingress" : "egress") +
         ",\"address\":" + js(l.address) + ",\"unknown_sni\":" + js(l.unknown_sni) + "}";
  }
  o += "],\"tenants\":[";
  for (std::size_t i = 0; i < c.tenants.size(); ++i) {
    const auto& t = c.tenants[i];
    o += std::string(i ? "," : "") + "{\"name\":" + js(t.name) + ",\"hosts\":" +
         js_list(t.hosts) + ",\"cert\":" + js(t.cert) + ",\"client_ca\":" + js(t.client_ca) +
         ",\"min_tls\":" + js(t.min_tls) + ",\"routes\":[";
    for (std::size_t r = 0; r < t.routes.size(); ++r) {
      const auto& rt = t.routes[r];
      o += std::string(r ? "," : "") + "{" +
           (rt.prefix ? "\"path_prefix\":" + js(rt.path_prefix) : "\"path\":" + js(rt.path)) +
           ",\"cluster\":" + js(rt.cluster) +
           ",\"direct_response\":" + (rt.direct_response ? "true" : "false") + "}";
    }
    o += "],\"clusters\":[";
    for (std::size_t k = 0; k < t.clusters.size(); ++k) {
      const auto& cl = t.clusters[k];
      o += std::string(k ? "," : "") + "{\"name\":" + js(cl.name) + ",\"endpoints\":" +
           js_list(cl.endpoints) + ",\"identity\":" + js(cl.identity) + ",\"server_name\":" +
           js(cl.server_name) + ",\"protocol\":" +
           js(cl.protocol == config::ClusterConfig::Protocol::h2 ? "h2" : "http/1.1") +
           ",\"plaintext\":" + (cl.plaintext ? "true" : "false") + "}";
    }
    o += "]}";
  }
  o += "]}\n";
  return o;
}

}  // namespace portcullis::gateway::runtime
