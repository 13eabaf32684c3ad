#include "gateway/observe/gateway_metrics.h"

#include <algorithm>
#include <charconv>
#include <chrono>

namespace portcullis::gateway::observe {

GatewayMetrics::GatewayMetrics()
    : requests_(registry_.counter("portcullis_requests_total",
                                  "Requests by tenant, route, cluster, code.",
                                  {"tenant", "route", "cluster", "code"})),
      rejections_(registry_.counter("portcullis_rejections_total",
                                    "Requests refused or failed, by reason.", {"reason"})),
      latency_(registry_.histogram("portcullis_request_duration_seconds",
                                   "Request latency by tenant, route and cluster.",
                                   {"tenant", "route", "cluster"})),
      handshakes_(registry_.counter("portcullis_tls_handshakes_total",
                                    "Completed downstream handshakes.",
                                    {"tenant", "version", "resumed"})),
      handshake_failures_(registry_.counter("portcullis_tls_handshake_failures_total",
                                            "Failed downstream handshakes by reason.",
                                            {"reason"})),
      upstream_failures_(registry_.counter(
          "portcullis_upstream_failures_total",
          "Upstream connect, TLS and identity failures by tenant, cluster and reason.",
          {"tenant", "cluster", "reason"}, kMaxUpstreamFailureSeries)),
      upstream_handshakes_(registry_.counter(
          "portcullis_upstream_tls_handshakes_total",
          "Completed and verified upstream handshakes by tenant and cluster, and whether they "
          "resumed a session.",
          {"tenant", "cluster", "resumed"}, kMaxUpstreamFailureSeries)),
      connections_(registry_.gauge("portcullis_downstream_connections",
                                   "Open client connections.", {"listener"})),
      closes_(registry_.counter("portcullis_downstream_closes_total",
                                "Client connections the gateway closed on a limit, by reason.",
                                {"reason"})),
      reloads_(registry_.counter("portcullis_config_reloads_total", "Reload attempts by result.",
                                 {"result"})),
      egress_(registry_.counter("portcullis_egress_decisions_total",
                                "Egress decisions by reason.", {"decision", "reason"})),
      generation_(registry_.gauge("portcullis_config_generation", "The running config generation.")
                      .get()),
      last_reload_ok_(registry_
                          .gauge("portcullis_config_last_reload_success",
                                 "1 when the last load or reload of the configuration succeeded.")
                          .get()),
      last_reload_ok_time_(
          registry_
              .gauge("portcullis_config_last_reload_success_timestamp_seconds",
                     "Unix time of the last successful load or reload of the configuration.")
              .get()),
      rate_limiting_(registry_.gauge(
          "portcullis_rate_limiting",
          "Buckets (one per worker) now refusing requests with 429, by scope (tenant or client) "
          "and tenant (\"\" for client).",
          {"scope", "tenant"})),
      rate_limited_(registry_.counter("portcullis_rate_limited_total",
                                      "Requests refused with 429 by a rate limit, by scope and "
                                      "tenant (\"\" for client).",
                                      {"scope", "tenant"})) {
  generation_.set(1);
}

namespace {

bool has_tenant(const std::vector<std::string>& tenants, const std::string& t) {
  return t.empty() || std::binary_search(tenants.begin(), tenants.end(), t);
}

}  // namespace

void GatewayMetrics::follow(const Shape& shape) {
  const auto& tenants = shape.tenants;
  auto by_tenant = [&](std::span<const std::string> v) { return has_tenant(tenants, v[0]); };
  // Families are (tenant, cluster, ...): egress series (no tenant) stay.
  auto by_cluster = [&](std::span<const std::string> v) {
    return v[0].empty() ||
           std::binary_search(shape.clusters.begin(), shape.clusters.end(),
                              std::pair<std::string, std::string>(v[0], v[1]));
  };
  const std::size_t per_tenant = kDefaultMaxSeries + kSeriesPerRoute * (shape.routes + tenants.size());
  requests_.set_max_series(per_tenant);
  latency_.set_max_series(kDefaultMaxSeries + shape.routes + tenants.size());
  handshakes_.set_max_series(kDefaultMaxSeries + 6 * tenants.size());  // versions x resumed
  upstream_failures_.set_max_series(kMaxUpstreamFailureSeries + 4 * shape.clusters.size());
  upstream_handshakes_.set_max_series(kMaxUpstreamFailureSeries + 2 * shape.clusters.size());
  rate_limiting_.set_max_series(kDefaultMaxSeries + 2 * tenants.size());
  rate_limited_.set_max_series(kDefaultMaxSeries + 2 * tenants.size());
  requests_.sweep(by_tenant);
  latency_.sweep(by_tenant);
  handshakes_.sweep(by_tenant);
  upstream_failures_.sweep(by_cluster);
  upstream_handshakes_.sweep(by_cluster);
  auto by_second = [&](std::span<const std::string> v) { return has_tenant(tenants, v[1]); };
  rate_limiting_.sweep(by_second);
  rate_limited_.sweep(by_second);
  last_reload_ok_.set(1);
  last_reload_ok_time_.set(static_cast<double>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count()) /
      1000.0);
}

void GatewayMetrics::rate_limited(std::string_view scope, const std::string& tenant,
                                  bool active) {
  rate_limiting_.with({scope, tenant}).add(active ? 1 : -1);
}

void GatewayMetrics::rate_limited_request(std::string_view scope, const std::string& tenant) {
  rate_limited_.with({scope, tenant}).inc();
}

void GatewayMetrics::request(const std::string& tenant, const std::string& route,
                             const std::string& cluster, int status, std::string_view reason,
                             double seconds) {
  char buf[16];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, status);
  const std::string_view code(buf, static_cast<std::size_t>(end - buf));
  requests_.with({tenant, route, cluster, code}).inc();
  if (!reason.empty()) {
    rejections_.with({reason}).inc();
  }
  latency_.with({tenant, route, cluster}).observe(seconds);
}

void GatewayMetrics::handshake(const std::string& tenant, const std::string& version,
                               bool resumed) {
  handshakes_.with({tenant, version, resumed ? "true" : "false"}).inc();
}

void GatewayMetrics::handshake_failed(std::string_view reason) {
  handshake_failures_.with({reason}).inc();
}

void GatewayMetrics::rejection(std::string_view reason) { rejections_.with({reason}).inc(); }

void GatewayMetrics::upstream_failure(const std::string& tenant, const std::string& cluster,
                                      const std::string& reason) {
  upstream_failures_.with({tenant, cluster, reason}).inc();
}

void GatewayMetrics::upstream_handshake(const std::string& tenant, const std::string& cluster,
                                        bool resumed) {
  upstream_handshakes_.with({tenant, cluster, resumed ? "true" : "false"}).inc();
}

void GatewayMetrics::connection(const std::string& listener, int delta) {
  connections_.with({listener}).add(delta);
}

void GatewayMetrics::connection_closed(std::string_view reason) {
  closes_.with({reason}).inc();
}

void GatewayMetrics::reload_result(bool ok) {
  reloads_.with({ok ? "success" : "failure"}).inc();
  if (!ok) {
    last_reload_ok_.set(0);
  }
}

void GatewayMetrics::set_generation(std::uint64_t g) {
  generation_.set(static_cast<double>(g));
}

void GatewayMetrics::egress(const std::string& decision, const std::string& reason) {
  egress_.with({decision, reason}).inc();
}

std::string GatewayMetrics::render() const { return registry_.render(); }

}  // namespace portcullis::gateway::observe
