// GatewayMetrics: the gateway's own metric families (CONTRACT "/metrics") on the Registry of
// metrics.h, rendered as Prometheus text.
//
// Thread: updated from every worker, rendered on the main thread. An update finds its series
//         with a lock-free lookup and bumps atomics; only the first sample of a label set takes
//         that family's mutex, to create the series.
// Labels: tenant, route, cluster and listener come from the config; reasons, decisions, TLS
//         versions and results are fixed tokens; codes are HTTP statuses. The one open set is
//         the cluster of an upstream failure on the egress path, the destination host:port a
//         workload asked for (any name under a wildcard entry), so that family has a small cap.
//         Every family is capped (metrics.h): past it, new label sets share one series labelled
//         "__overflow__".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/observe/metrics.h"

namespace portcullis::gateway::observe {

class GatewayMetrics {
 public:
  GatewayMetrics();

  void request(const std::string& tenant, const std::string& route, const std::string& cluster,
               int status, std::string_view reason, double seconds);
  void handshake(const std::string& tenant, const std::string& version, bool resumed);
  void handshake_failed(std::string_view reason);
  void rejection(std::string_view reason);  // refused before a request: caps, PROXY, ...
  void upstream_failure(const std::string& cluster, const std::string& reason);
  void upstream_handshake(const std::string& cluster, bool resumed);
  void connection(const std::string& listener, int delta);
  void connection_closed(std::string_view reason);  // closed by the gateway on a limit
  void reload_result(bool ok);
  void set_generation(std::uint64_t g);
  void egress(const std::string& decision, const std::string& reason);
  std::string render() const;
  // For the families other objects publish as callbacks (health, certificates, memory, logs):
  // they register here, after the families above, so they render after them.
  Registry& registry() noexcept { return registry_; }

  // Distinct (cluster, reason) pairs kept for upstream failures; see "Labels" above.
  static constexpr std::size_t kMaxUpstreamFailureSeries = 1000;

 private:
  // Declaration order is registration order, which is the order of render().
  Registry registry_;
  CounterFamily& requests_;
  CounterFamily& rejections_;
  HistogramFamily& latency_;
  CounterFamily& handshakes_;
  CounterFamily& handshake_failures_;
  CounterFamily& upstream_failures_;
  CounterFamily& upstream_handshakes_;
  GaugeFamily& connections_;
  CounterFamily& closes_;
  CounterFamily& reloads_;
  CounterFamily& egress_;
  Gauge& generation_;
};

}  // namespace portcullis::gateway::observe
