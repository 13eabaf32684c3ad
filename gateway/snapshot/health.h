// Endpoint health: what active checks and passive ejection know about one cluster endpoint.
//
// Thread:   shared by every worker (atomics only). The registry outlives config generations,
//           so health survives a reload; its map is touched only on the main thread while a
//           snapshot is built and when /metrics renders (through the callback gauge).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/observe/metrics.h"

namespace portcullis::gateway::upstream {

class EndpointHealth {
 public:
  // Active checks: thresholds of consecutive results flip the state; one passing check ends an
  // ejection at once (the endpoint answers again).
  void probe_result(bool ok, std::uint32_t healthy_threshold,
                    std::uint32_t unhealthy_threshold) noexcept;
  // Passive: connect/TLS failures of real traffic. `max_failures` in a row eject the endpoint
  // for `eject_ms`; a success (a connection that passed every check) ends an ejection.
  void traffic_result(bool ok, std::uint32_t max_failures, std::int64_t eject_ms) noexcept;
  // Usable: actively healthy and not ejected.
  bool usable() const noexcept;
  bool healthy() const noexcept { return healthy_.load(std::memory_order_relaxed); }
  bool ejected() const noexcept;
  // A request routed here although no endpoint of its cluster was usable (panic routing).
  void count_panic() noexcept { panics_.fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t panics() const noexcept { return panics_.load(std::memory_order_relaxed); }

 private:
  static std::int64_t now_ms() noexcept;
  std::atomic<bool> healthy_{true};
  std::atomic<std::uint32_t> probe_ok_{0};
  std::atomic<std::uint32_t> probe_fail_{0};
  std::atomic<std::uint32_t> traffic_fail_{0};
  std::atomic<std::int64_t> ejected_until_ms_{0};
  std::atomic<std::uint64_t> panics_{0};
};

class HealthRegistry {
 public:
  // Stable for the registry's life. key: "tenant/cluster/host:port".
  std::shared_ptr<EndpointHealth> get(const std::string& key);
  // Registers on `metrics`, read at every scrape and unregistered when this registry goes:
  // portcullis_upstream_healthy{tenant,cluster,endpoint} (1 usable, 0 not), one sample per
  // endpoint, and portcullis_upstream_panic_total{tenant,cluster}, one per cluster. A scrape
  // first forgets the endpoints no live generation holds any more (removed by a reload, once
  // the last connection pinning the old generation is gone), so their series disappear.
  void publish(observe::Registry& metrics);

 private:
  void prune_locked();

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<EndpointHealth>> entries_;
  // Last: unregistered before entries_ go.
  observe::CallbackRegistration published_healthy_;
  observe::CallbackRegistration published_panics_;
};

}  // namespace portcullis::gateway::upstream
