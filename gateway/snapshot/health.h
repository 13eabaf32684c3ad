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
  // Active checks: thresholds of consecutive results flip the state.
  void probe_result(bool ok, std::uint32_t healthy_threshold,
                    std::uint32_t unhealthy_threshold) noexcept;
  // Passive: connect/TLS failures of real traffic. `max_failures` in a row eject the endpoint
  // for `eject_ms`.
  void traffic_result(bool ok, std::uint32_t max_failures, std::int64_t eject_ms) noexcept;
  // Usable: actively healthy and not ejected.
  bool usable() const noexcept;
  bool healthy() const noexcept { return healthy_.load(std::memory_order_relaxed); }
  bool ejected() const noexcept;

 private:
  static std::int64_t now_ms() noexcept;
  std::atomic<bool> healthy_{true};
  std::atomic<std::uint32_t> probe_ok_{0};
  std::atomic<std::uint32_t> probe_fail_{0};
  std::atomic<std::uint32_t> traffic_fail_{0};
  std::atomic<std::int64_t> ejected_until_ms_{0};
};

class HealthRegistry {
 public:
  // Stable for the registry's life. key: "tenant/cluster/host:port".
  std::shared_ptr<EndpointHealth> get(const std::string& key);
  // Registers portcullis_upstream_healthy{endpoint} (1 usable, 0 not) on `metrics`, one
  // sample per endpoint read at every scrape; unregistered when this registry goes.
  void publish(observe::Registry& metrics);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<EndpointHealth>> entries_;
  observe::CallbackRegistration published_;  // last: unregistered before entries_ go
};

}  // namespace portcullis::gateway::upstream
