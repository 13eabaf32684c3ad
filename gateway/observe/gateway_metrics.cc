#include "gateway/observe/gateway_metrics.h"

#include <cstdio>

namespace portcullis::gateway::observe {
namespace {

std::string labels(std::initializer_list<std::pair<const char*, std::string_view>> kv) {
  std::string out;
  for (const auto& [k, v] : kv) {
    out += out.empty() ? "" : ",";
    out += k;
    out += "=\"" + label_value(v) + "\"";
  }
  return out;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += " ";
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += " ";
  out += type;
  out += "\n";
}

template <class Map>
void samples(std::string& out, const char* name, const Map& m) {
  for (const auto& [l, v] : m) {
    out += name;
    out += "{" + l + "} " + std::to_string(v) + "\n";
  }
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

std::string label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void GatewayMetrics::request(const std::string& tenant, const std::string& route,
                             const std::string& cluster, int status, std::string_view reason,
                             double seconds) {
  const std::string code = std::to_string(status);
  const std::string key = labels({{"tenant", tenant}, {"route", route}, {"cluster", cluster},
                                  {"code", code}});
  const std::string hkey = labels({{"tenant", tenant}, {"route", route}, {"cluster", cluster}});
  std::lock_guard lock{mu_};
  ++requests_[key];
  if (!reason.empty()) {
    ++rejections_[labels({{"reason", reason}})];
  }
  Histogram& h = latency_[hkey];
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++h.buckets[i];
    }
  }
  ++h.count;
  h.sum += seconds;
}

void GatewayMetrics::handshake(const std::string& tenant, const std::string& version,
                               bool resumed) {
  const std::string key = labels(
      {{"tenant", tenant}, {"version", version}, {"resumed", resumed ? "true" : "false"}});
  std::lock_guard lock{mu_};
  ++handshakes_[key];
}

void GatewayMetrics::handshake_failed(std::string_view reason) {
  const std::string key = labels({{"reason", reason}});
  std::lock_guard lock{mu_};
  ++handshake_failures_[key];
}

void GatewayMetrics::rejection(std::string_view reason) {
  const std::string key = labels({{"reason", reason}});
  std::lock_guard lock{mu_};
  ++rejections_[key];
}

void GatewayMetrics::upstream_failure(const std::string& cluster, const std::string& reason) {
  const std::string key = labels({{"cluster", cluster}, {"reason", reason}});
  std::lock_guard lock{mu_};
  ++upstream_failures_[key];
}

void GatewayMetrics::connection(const std::string& listener, int delta) {
  const std::string key = labels({{"listener", listener}});
  std::lock_guard lock{mu_};
  connections_[key] += delta;
}

void GatewayMetrics::reload_result(bool ok) {
  const std::string key = labels({{"result", ok ? "success" : "failure"}});
  std::lock_guard lock{mu_};
  ++reloads_[key];
}

void GatewayMetrics::set_generation(std::uint64_t g) {
  std::lock_guard lock{mu_};
  generation_ = g;
}

void GatewayMetrics::egress(const std::string& decision, const std::string& reason) {
  const std::string key = labels({{"decision", decision}, {"reason", reason}});
  std::lock_guard lock{mu_};
  ++egress_[key];
}

std::string GatewayMetrics::render() const {
  std::lock_guard lock{mu_};
  std::string out;
  family(out, "portcullis_requests_total", "counter", "Requests by tenant, route, cluster, code.");
  samples(out, "portcullis_requests_total", requests_);
  family(out, "portcullis_rejections_total", "counter",
         "Requests refused or failed, by reason.");
  samples(out, "portcullis_rejections_total", rejections_);
  family(out, "portcullis_request_duration_seconds", "histogram",
         "Request latency by tenant, route and cluster.");
  for (const auto& [l, h] : latency_) {
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      out += "portcullis_request_duration_seconds_bucket{" + l + ",le=\"" + number(kBuckets[i]) +
             "\"} " + std::to_string(h.buckets[i]) + "\n";
    }
    out += "portcullis_request_duration_seconds_bucket{" + l + ",le=\"+Inf\"} " +
           std::to_string(h.count) + "\n";
    out += "portcullis_request_duration_seconds_sum{" + l + "} " + number(h.sum) + "\n";
    out += "portcullis_request_duration_seconds_count{" + l + "} " + std::to_string(h.count) +
           "\n";
  }
  family(out, "portcullis_tls_handshakes_total", "counter", "Completed downstream handshakes.");
  samples(out, "portcullis_tls_handshakes_total", handshakes_);
  family(out, "portcullis_tls_handshake_failures_total", "counter",
         "Failed downstream handshakes by reason.");
  samples(out, "portcullis_tls_handshake_failures_total", handshake_failures_);
  family(out, "portcullis_upstream_failures_total", "counter",
         "Upstream connect, TLS and identity failures by cluster and reason.");
  samples(out, "portcullis_upstream_failures_total", upstream_failures_);
  family(out, "portcullis_downstream_connections", "gauge", "Open client connections.");
  samples(out, "portcullis_downstream_connections", connections_);
  family(out, "portcullis_config_reloads_total", "counter", "Reload attempts by result.");
  samples(out, "portcullis_config_reloads_total", reloads_);
  family(out, "portcullis_egress_decisions_total", "counter", "Egress decisions by reason.");
  samples(out, "portcullis_egress_decisions_total", egress_);
  family(out, "portcullis_config_generation", "gauge", "The running config generation.");
  out += "portcullis_config_generation " + std::to_string(generation_) + "\n";
  return out;
}

}  // namespace portcullis::gateway::observe
