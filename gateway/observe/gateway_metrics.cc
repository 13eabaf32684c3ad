#include "gateway/observe/gateway_metrics.h"

#include <charconv>

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
          "Upstream connect, TLS and identity failures by cluster and reason.",
          {"cluster", "reason"}, kMaxUpstreamFailureSeries)),
      upstream_handshakes_(registry_.counter(
          "portcullis_upstream_tls_handshakes_total",
          "Completed and verified upstream handshakes by cluster, and whether they resumed a "
          "session.",
          {"cluster", "resumed"}, kMaxUpstreamFailureSeries)),
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
                      .get()) {
  generation_.set(1);
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

void GatewayMetrics::upstream_failure(const std::string& cluster, const std::string& reason) {
  upstream_failures_.with({cluster, reason}).inc();
}

void GatewayMetrics::upstream_handshake(const std::string& cluster, bool resumed) {
  upstream_handshakes_.with({cluster, resumed ? "true" : "false"}).inc();
}

void GatewayMetrics::connection(const std::string& listener, int delta) {
  connections_.with({listener}).add(delta);
}

void GatewayMetrics::connection_closed(std::string_view reason) {
  closes_.with({reason}).inc();
}

void GatewayMetrics::reload_result(bool ok) {
  reloads_.with({ok ? "success" : "failure"}).inc();
}

void GatewayMetrics::set_generation(std::uint64_t g) {
  generation_.set(static_cast<double>(g));
}

void GatewayMetrics::egress(const std::string& decision, const std::string& reason) {
  egress_.with({decision, reason}).inc();
}

std::string GatewayMetrics::render() const { return registry_.render(); }

}  // namespace portcullis::gateway::observe
