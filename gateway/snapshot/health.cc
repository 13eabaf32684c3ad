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

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string HealthRegistry::render() const {
  std::lock_guard lock{mu_};
  std::string out =
      "# HELP portcullis_upstream_healthy 1 when the endpoint takes traffic (active checks "
      "passing, not ejected).\n# TYPE portcullis_upstream_healthy gauge\n";
  std::map<std::string, std::uint64_t> panics;  // "tenant/cluster"
  for (const auto& [key, h] : entries_) {
    out += "portcullis_upstream_healthy{endpoint=\"" + escape(key) + "\"} " +
           (h->usable() ? "1" : "0") + "\n";
    panics[key.substr(0, key.rfind('/'))] += h->panics();
  }
  out +=
      "# HELP portcullis_upstream_panic_total Requests routed to an ejected or unhealthy "
      "endpoint because no endpoint of the cluster was usable.\n"
      "# TYPE portcullis_upstream_panic_total counter\n";
  for (const auto& [tc, n] : panics) {
    const std::size_t slash = tc.find('/');
    const std::string tenant = slash == std::string::npos ? tc : tc.substr(0, slash);
    const std::string cluster = slash == std::string::npos ? "" : tc.substr(slash + 1);
    out += "portcullis_upstream_panic_total{tenant=\"" + escape(tenant) + "\",cluster=\"" +
           escape(cluster) + "\"} " + std::to_string(n) + "\n";
  }
  return out;
}

}  // namespace portcullis::gateway::upstream
