// GatewayMetrics: the gateway's own metric families (CONTRACT "/metrics"), rendered as
// Prometheus text.
//
// Thread:   updated from every worker, rendered on the main thread.
// Shortcut: one mutex around label maps. A request takes it once, at its end; per-worker
//           lock-free shards summed at render time are the planned replacement once the
//           benchmarks show the lock.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace portcullis::gateway::observe {

class GatewayMetrics {
 public:
  void request(const std::string& tenant, const std::string& route, const std::string& cluster,
               int status, std::string_view reason, double seconds);
  void handshake(const std::string& tenant, const std::string& version, bool resumed);
  void handshake_failed(std::string_view reason);
  void rejection(std::string_view reason);  // refused before a request: caps, PROXY, ...
  void upstream_failure(const std::string& cluster, const std::string& reason);
  void connection(const std::string& listener, int delta);
  void reload_result(bool ok);
  void set_generation(std::uint64_t g);
  void egress(const std::string& decision, const std::string& reason);
  std::string render() const;

  static constexpr std::array<double, 12> kBuckets = {.001, .005, .01, .025, .05, .1,
                                                      .25,  .5,   1,   2.5,  5,   10};

 private:
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> requests_;       // labels -> count
  std::map<std::string, std::uint64_t> rejections_;     // reason -> count
  std::map<std::string, Histogram> latency_;            // labels -> histogram
  std::map<std::string, std::uint64_t> handshakes_;
  std::map<std::string, std::uint64_t> handshake_failures_;
  std::map<std::string, std::uint64_t> upstream_failures_;
  std::map<std::string, std::int64_t> connections_;
  std::map<std::string, std::uint64_t> reloads_;
  std::map<std::string, std::uint64_t> egress_;
  std::uint64_t generation_ = 1;
};

// Escapes a Prometheus label value (backslash, quote, newline).
std::string label_value(std::string_view v);

}  // namespace portcullis::gateway::observe
