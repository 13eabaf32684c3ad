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

namespace {

// "tenant/cluster/host:port" -> its three parts (tenant and cluster names hold no '/').
struct KeyParts {
  std::string_view tenant, cluster, endpoint;
};

KeyParts split_key(std::string_view key) {
  const std::size_t a = key.find('/');
  const std::size_t b = a == std::string_view::npos ? a : key.find('/', a + 1);
  if (b == std::string_view::npos) {
    return {"", "", key};
  }
  return {key.substr(0, a), key.substr(a + 1, b - a - 1), key.substr(b + 1)};
}

}  // namespace

void HealthRegistry::prune_locked() {
  // Only this registry holds it: no generation names the endpoint any more.
  std::erase_if(entries_, [](const auto& kv) { return kv.second.use_count() == 1; });
}

void HealthRegistry::publish(observe::Registry& metrics) {
  published_healthy_ = metrics.callback_gauge(
      "portcullis_upstream_healthy",
      "1 when the endpoint takes traffic (active checks passing, not ejected).",
      {"tenant", "cluster", "endpoint"}, [this](observe::SampleSink& out) {
        std::lock_guard lock{mu_};
        prune_locked();
        for (const auto& [key, h] : entries_) {
          const KeyParts k = split_key(key);
          out.add({k.tenant, k.cluster, k.endpoint}, h->usable() ? 1 : 0);
        }
      });
  published_panics_ = metrics.callback_counter(
      "portcullis_upstream_panic_total",
      "Requests routed to an ejected or unhealthy endpoint because no endpoint of the cluster "
      "was usable.",
      {"tenant", "cluster"}, [this](observe::SampleSink& out) {
        std::map<std::pair<std::string, std::string>, std::uint64_t> panics;
        {
          std::lock_guard lock{mu_};
          prune_locked();
          for (const auto& [key, h] : entries_) {
            const KeyParts k = split_key(key);
            panics[{std::string(k.tenant), std::string(k.cluster)}] += h->panics();
          }
        }
        for (const auto& [tc, n] : panics) {
          out.add({tc.first, tc.second}, static_cast<double>(n));
        }
      });
}

}  // namespace portcullis::gateway::upstream
