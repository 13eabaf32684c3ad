// Server, admin views: what /metrics and /config show (admin::AdminViews).
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/observe/access_log.h"
#include "gateway/observe/gateway_metrics.h"
#include "gateway/runtime/server.h"

namespace portcullis::gateway::runtime {

std::string Server::metrics_text() const {
  std::string out = events_.render_metrics();
  out += health_.render();
  const SnapshotPtr snap = snapshot();
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  out += "# HELP portcullis_certificate_expiry_seconds Seconds until the certificate expires.\n"
         "# TYPE portcullis_certificate_expiry_seconds gauge\n";
  for (const auto& c : snap->certs) {
    out += "portcullis_certificate_expiry_seconds{certificate=\"" + observe::label_value(c.name) +
           "\"} " + std::to_string(c.not_after - now) + "\n";
  }
  out += "# HELP portcullis_memory_rss_bytes Resident memory of the gateway process.\n"
         "# TYPE portcullis_memory_rss_bytes gauge\n"
         "portcullis_memory_rss_bytes " + std::to_string(memory_.rss()) + "\n";
  out += "# HELP portcullis_memory_budget_bytes [limits].memory_budget in bytes (0 = off).\n"
         "# TYPE portcullis_memory_budget_bytes gauge\n"
         "portcullis_memory_budget_bytes " + std::to_string(memory_.budget()) + "\n";
  out += "# HELP portcullis_memory_in_use_bytes Memory the budget is charged: heap in use plus "
         "non-heap resident.\n# TYPE portcullis_memory_in_use_bytes gauge\n"
         "portcullis_memory_in_use_bytes " + std::to_string(memory_.in_use()) + "\n";
  out += "# HELP portcullis_memory_trims_total Freed heap handed back to the kernel (malloc_trim).\n"
         "# TYPE portcullis_memory_trims_total counter\n"
         "portcullis_memory_trims_total " + std::to_string(memory_.trims()) + "\n";
  out += "# HELP portcullis_memory_shedding 1 while new requests are shed for memory.\n"
         "# TYPE portcullis_memory_shedding gauge\n"
         "portcullis_memory_shedding " + std::to_string(memory_.shedding() ? 1 : 0) + "\n";
  out += "# HELP portcullis_access_log_write_failures_total Log lines that could not be written.\n"
         "# TYPE portcullis_access_log_write_failures_total counter\n";
  out += "portcullis_access_log_write_failures_total{log=\"access\"} " +
         std::to_string(events_.access_write_failures()) + "\n";
  out += "portcullis_access_log_write_failures_total{log=\"audit\"} " +
         std::to_string(events_.audit_write_failures()) + "\n";
  return out;
}

namespace {

std::string js(std::string_view s) {
  std::string out;
  observe::JsonLine::append_escaped(out, s);  // quotes included
  return out;
}

std::string js_list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    out += (i ? "," : "") + js(v[i]);
  }
  return out + "]";
}

}  // namespace

// The running configuration without key material: key paths and ticket key paths are left out.
std::string Server::config_json() const {
  const SnapshotPtr snap = snapshot();
  const config::Config& c = snap->config;
  std::string o = "{\"generation\":" + std::to_string(snap->generation);
  o += ",\"gateway\":{\"workers\":" + std::to_string(c.gateway.workers) +
       ",\"tenants_dir\":" + js(c.gateway.tenants_dir) +
       ",\"drain_timeout_ms\":" + std::to_string(c.gateway.drain_timeout.count()) + "}";
  o += ",\"mesh\":{\"trust_domain\":" + js(c.mesh.trust_domain) + ",\"ca\":" + js(c.mesh.ca) +
       ",\"cert\":" + js(c.mesh.cert) + ",\"identity\":" + js(snap->gateway_identity) + "}";
  o += ",\"listeners\":[";
  for (std::size_t i = 0; i < c.listeners.size(); ++i) {
    const auto& l = c.listeners[i];
    o += std::string(i ? "," : "") + "{\"name\":" + js(l.name) + ",\"kind\":" +
         js(l.kind == config::ListenerConfig::Kind::ingress ? "ingress" : "egress") +
         ",\"address\":" + js(l.address) + ",\"unknown_sni\":" + js(l.unknown_sni) + "}";
  }
  o += "],\"tenants\":[";
  for (std::size_t i = 0; i < c.tenants.size(); ++i) {
    const auto& t = c.tenants[i];
    o += std::string(i ? "," : "") + "{\"name\":" + js(t.name) + ",\"hosts\":" +
         js_list(t.hosts) + ",\"cert\":" + js(t.cert) + ",\"client_ca\":" + js(t.client_ca) +
         ",\"min_tls\":" + js(t.min_tls) + ",\"routes\":[";
    for (std::size_t r = 0; r < t.routes.size(); ++r) {
      const auto& rt = t.routes[r];
      o += std::string(r ? "," : "") + "{" +
           (rt.prefix ? "\"path_prefix\":" + js(rt.path_prefix) : "\"path\":" + js(rt.path)) +
           ",\"cluster\":" + js(rt.cluster) +
           ",\"direct_response\":" + (rt.direct_response ? "true" : "false") + "}";
    }
    o += "],\"clusters\":[";
    for (std::size_t k = 0; k < t.clusters.size(); ++k) {
      const auto& cl = t.clusters[k];
      o += std::string(k ? "," : "") + "{\"name\":" + js(cl.name) + ",\"endpoints\":" +
           js_list(cl.endpoints) + ",\"identity\":" + js(cl.identity) + ",\"server_name\":" +
           js(cl.server_name) + ",\"protocol\":" +
           js(cl.protocol == config::ClusterConfig::Protocol::h2 ? "h2" : "http/1.1") +
           ",\"plaintext\":" + (cl.plaintext ? "true" : "false") + "}";
    }
    o += "]}";
  }
  o += "]}\n";
  return o;
}

}  // namespace portcullis::gateway::runtime
