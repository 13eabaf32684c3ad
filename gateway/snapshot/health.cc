#include "gateway/snapshot/health.h"

namespace portcullis::gateway::upstream {

std::int64_t EndpointHealth::now_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void EndpointHealth::probe_result(bool ok, std::uint32_t healthy_threshold,
                                  std::uint32_t unhealthy_threshold) noexcept {
  if (ok) {
    probe_fail_ = 0;
    ejected_until_ms_ = 0;  // a passing active check ends an ejection at once
    if (++probe_ok_ >= healthy_threshold) {
      healthy_ = true;
    }
  } else {
    probe_ok_ = 0;
    if (++probe_fail_ >= unhealthy_threshold) {
      healthy_ = false;
    }
  }
}

void EndpointHealth::traffic_result(bool ok, std::uint32_t max_failures,
                                    std::int64_t eject_ms) noexcept {
  if (ok) {
    traffic_fail_ = 0;
    ejected_until_ms_ = 0;  // reached through panic routing, and it answered
    return;
  }
  if (++traffic_fail_ >= max_failures) {
    traffic_fail_ = 0;
    ejected_until_ms_ = now_ms() + eject_ms;
  }
}

bool EndpointHealth::ejected() const noexcept {
  return ejected_until_ms_.load(std::memory_order_relaxed) > now_ms();
}

bool EndpointHealth::usable() const noexcept { return healthy() && !ejected(); }

std::shared_ptr<EndpointHealth> HealthRegistry::get(const std::string& key) {
  std::lock_guard lock{mu_};
  auto& slot = entries_[key];
  if (!slot) {
    slot = std::make_shared<EndpointHealth>();
  }
  return slot;
}

void HealthRegistry::publish(observe::Registry& metrics) {
  published_healthy_ = metrics.callback_gauge(
      "portcullis_upstream_healthy",
      "1 when the endpoint takes traffic (active checks passing, not ejected).", {"endpoint"},
      [this](observe::SampleSink& out) {
        std::lock_guard lock{mu_};
        for (const auto& [key, h] : entries_) {
          out.add({key}, h->usable() ? 1 : 0);
        }
      });
  published_panics_ = metrics.callback_counter(
      "portcullis_upstream_panic_total",
      "Requests routed to an ejected or unhealthy endpoint because no endpoint of the cluster "
      "was usable.",
      {"tenant", "cluster"}, [this](observe::SampleSink& out) {
        std::map<std::string, std::uint64_t> panics;  // "tenant/cluster"
        {
          std::lock_guard lock{mu_};
          for (const auto& [key, h] : entries_) {
            panics[key.substr(0, key.rfind('/'))] += h->panics();
          }
        }
        for (const auto& [tc, n] : panics) {
          const std::size_t slash = tc.find('/');
          out.add({slash == std::string::npos ? tc : tc.substr(0, slash),
                   slash == std::string::npos ? "" : tc.substr(slash + 1)},
                  static_cast<double>(n));
        }
      });
}

}  // namespace portcullis::gateway::upstream
