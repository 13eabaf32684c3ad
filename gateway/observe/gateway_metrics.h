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
//         "__overflow__". The caps of the tenant and cluster families grow with the configured
//         tenants, routes and clusters (follow()), so each of 100,000 tenants keeps its series.
// Reload: follow() drops the series of tenants and clusters the new generation no longer has.
//         A request still finishing on the old generation may bring one back until the next
//         reload; the families with a tenant label are never kept as Series& for that reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
  // tenant: "" for egress (cluster is then "egress:<entry host>").
  void upstream_failure(const std::string& tenant, const std::string& cluster,
                        const std::string& reason);
  void upstream_handshake(const std::string& tenant, const std::string& cluster, bool resumed);
  void connection(const std::string& listener, int delta);
  void connection_closed(std::string_view reason);  // closed by the gateway on a limit
  void reload_result(bool ok);
  void set_generation(std::uint64_t g);
  // Rate limiting of a tenant or client started (active) or stopped; requests refused meanwhile.
  void rate_limited(std::string_view scope, const std::string& tenant, bool active);
  void rate_limited_request(std::string_view scope, const std::string& tenant);

  // What the running generation configures: series of other tenants and (tenant, cluster)
  // pairs are dropped, caps follow the counts; marks a successful (re)load.
  struct Shape {
    std::vector<std::string> tenants;                          // sorted
    std::vector<std::pair<std::string, std::string>> clusters;  // (tenant, cluster), sorted
    std::size_t routes = 0;                                     // over all tenants
  };
  void follow(const Shape& shape);
  void egress(const std::string& decision, const std::string& reason);
  std::string render() const;
  // For the families other objects publish as callbacks (health, certificates, memory, logs):
  // they register here, after the families above, so they render after them.
  Registry& registry() noexcept { return registry_; }

  // Distinct (cluster, reason) pairs kept for upstream failures; see "Labels" above.
  static constexpr std::size_t kMaxUpstreamFailureSeries = 1000;
  // Per configured route (+1 per tenant for its refused requests): status codes seen.
  static constexpr std::size_t kSeriesPerRoute = 8;

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
  Gauge& last_reload_ok_;
  Gauge& last_reload_ok_time_;
  GaugeFamily& rate_limiting_;
  CounterFamily& rate_limited_;
};

}  // namespace portcullis::gateway::observe
