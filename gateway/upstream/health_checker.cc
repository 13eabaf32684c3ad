#include "gateway/upstream/health_checker.h"

#include "gateway/http/exchange.h"
#include "gateway/upstream/pool.h"
#include "gateway/upstream/worker_context.h"

namespace portcullis::gateway::upstream {
namespace {

constexpr std::uint64_t kTickMs = 500;

}  // namespace

// One probe in flight. It is the exchange's downstream side; it records the result once and is
// destroyed on a later tick, never inside an upstream callback.
struct HealthChecker::Probe final : http::DownstreamSide {
  std::unique_ptr<http::Exchange> ex;
  std::shared_ptr<EndpointHealth> health;
  std::uint32_t healthy_threshold = 2;
  std::uint32_t unhealthy_threshold = 3;
  bool done = false;

  void record(bool ok) {
    if (!done) {
      done = true;
      health->probe_result(ok, healthy_threshold, unhealthy_threshold);
    }
  }
  void on_response_head(http::Exchange& e) noexcept override {
    if (e.info().reason == Reason::upstream_overflow) {
      done = true;  // our own cap, not the endpoint's health: no result
      return;
    }
    const int s = e.response().status;
    record(!e.info().local && s >= 200 && s < 400);
  }
  void on_response_body(http::Exchange& e) noexcept override {
    const std::size_t n = e.response_body().size();
    e.response_body().consume(n);
    e.response_body_consumed(n);
  }
  void on_request_body_consumed(http::Exchange&, std::size_t) noexcept override {}
  void on_upstream_abort(http::Exchange&) noexcept override { record(false); }
};

HealthChecker::HealthChecker(WorkerContext& worker) : worker_(worker) {
  uv_timer_init(worker_.loop(), &timer_);
  timer_.data = this;
}

HealthChecker::~HealthChecker() = default;

void HealthChecker::start() { uv_timer_start(&timer_, &HealthChecker::on_tick, kTickMs, kTickMs); }

void HealthChecker::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  probes_.clear();  // exchanges tell their upstream sides to let go
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void HealthChecker::on_tick(uv_timer_t* t) noexcept {
  static_cast<HealthChecker*>(t->data)->tick();
}

void HealthChecker::tick() {
  if (closed_ || worker_.draining()) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  const runtime::SnapshotPtr& snap = worker_.snapshot();
  for (const auto& tenant : snap->tenants) {
    for (const auto& cluster : tenant.clusters) {
      const config::ClusterConfig& cfg = *cluster.cfg;
      if (cfg.health_path.empty()) {
        continue;
      }
      const std::string ckey = tenant.cfg->name + "/" + cfg.name;
      auto& due = next_due_[ckey];
      if (now < due) {
        continue;
      }
      due = now + cfg.health_interval;
      for (const auto& endpoint : cluster.endpoints) {
        const std::string hp =
            endpoint.host_port.host + ":" + std::to_string(endpoint.host_port.port);
        auto& slot = probes_[ckey + "/" + hp];
        if (slot && !slot->done) {
          continue;  // the previous probe is still out; it times out on its own
        }
        slot = std::make_unique<Probe>();  // the finished one goes here, outside callbacks
        Probe& p = *slot;
        p.health = endpoint.health;
        p.healthy_threshold = cfg.healthy_threshold;
        p.unhealthy_threshold = cfg.unhealthy_threshold;
        if (!p.health) {
          continue;
        }
        p.ex = std::make_unique<http::Exchange>(p);
        http::RequestHead& req = p.ex->request();
        req.method = "GET";
        req.scheme = cfg.plaintext ? "http" : "https";
        req.authority = cfg.server_name.empty() ? endpoint.host_port.host : cfg.server_name;
        req.path = cfg.health_path;
        req.headers.push_back({"user-agent", "portcullis-health-check"});
        req.has_body = false;
        p.ex->request_body().set_eof();
        PoolKey key{snap->generation, &cluster, hp};
        worker_.pool().acquire(snap, std::move(key), cluster.target, endpoint, *p.ex);
      }
    }
  }
}

}  // namespace portcullis::gateway::upstream
