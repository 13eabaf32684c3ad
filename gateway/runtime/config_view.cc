#include "gateway/runtime/config_view.h"

#include <nlohmann/json.hpp>

#include "gateway/config/limits_table.h"

namespace portcullis::gateway::runtime {

namespace {

// ordered_json keeps the keys in the order written here (the page reads top-down).
using Json = nlohmann::ordered_json;

Json limits_json(const config::Limits& limits) {
  Json out = Json::object();
  for (const config::LimitRow& row : config::limit_rows()) {
    const std::uint64_t v = config::get_limit(limits, row);
    switch (row.kind) {
      case config::LimitKind::count:
      case config::LimitKind::size:
        out[std::string(row.key)] = v;
        break;
      case config::LimitKind::duration:
        out[std::string(row.key) + "_ms"] = v;
        break;
      case config::LimitKind::memory:
        if (v == config::Limits::kMemoryBudgetAuto) {
          out[std::string(row.key)] = "auto";
        } else {
          out[std::string(row.key)] = v;  // bytes; 0 = off
        }
        break;
    }
  }
  return out;
}

Json route_json(const config::RouteConfig& r) {
  Json out = Json::object();
  if (r.prefix) {
    out["path_prefix"] = r.path_prefix;
  } else {
    out["path"] = r.path;
  }
  out["cluster"] = r.cluster;
  out["direct_response"] = r.direct_response.has_value();
  return out;
}

Json cluster_json(const config::ClusterConfig& c) {
  return Json{{"name", c.name},
              {"endpoints", c.endpoints},
              {"identity", c.identity},
              {"server_name", c.server_name},
              {"protocol", c.protocol == config::ClusterConfig::Protocol::h2 ? "h2" : "http/1.1"},
              {"plaintext", c.plaintext}};
}

Json tenant_json(const config::TenantConfig& t) {
  Json routes = Json::array();
  for (const auto& r : t.routes) {
    routes.push_back(route_json(r));
  }
  Json clusters = Json::array();
  for (const auto& c : t.clusters) {
    clusters.push_back(cluster_json(c));
  }
  // t.key is a key path: never shown.
  return Json{{"name", t.name},           {"hosts", t.hosts},     {"cert", t.cert},
              {"client_ca", t.client_ca}, {"min_tls", t.min_tls}, {"routes", std::move(routes)},
              {"clusters", std::move(clusters)}};
}

}  // namespace

std::string config_json(const config::Config& c, std::uint64_t generation,
                        std::string_view gateway_identity) {
  Json listeners = Json::array();
  for (const auto& l : c.listeners) {
    listeners.push_back(
        Json{{"name", l.name},
             {"kind", l.kind == config::ListenerConfig::Kind::ingress  ? "ingress"
                      : l.kind == config::ListenerConfig::Kind::http ? "http"
                                                                     : "egress"},
             {"address", l.address},
             {"unknown_sni", l.unknown_sni}});
  }
  Json tenants = Json::array();
  for (const auto& t : c.tenants) {
    tenants.push_back(tenant_json(t));
  }
  // Left out: gateway.ticket_keys and mesh.key (key paths).
  const Json page{
      {"generation", generation},
      {"gateway",
       {{"workers", c.gateway.workers},
        {"tenants_dir", c.gateway.tenants_dir},
        {"drain_timeout_ms", c.gateway.drain_timeout.count()},
        {"drain_delay_ms", c.gateway.drain_delay.count()}}},
      {"mesh",
       {{"trust_domain", c.mesh.trust_domain},
        {"ca", c.mesh.ca},
        {"cert", c.mesh.cert},
        {"identity", gateway_identity}}},
      {"limits", limits_json(c.limits)},
      {"listeners", std::move(listeners)},
      {"tenants", std::move(tenants)}};
  return page.dump(-1, ' ', false, Json::error_handler_t::replace) + '\n';
}

}  // namespace portcullis::gateway::runtime
