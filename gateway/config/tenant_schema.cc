// The tenant file schema (name, hosts, [tls], [cluster.NAME], [[route]]) and the checks that span
// files (tenant names, unknown_sni targets, [mesh] when something needs mTLS).
#include <algorithm>

#include "gateway/config/reader.h"
#include "gateway/config/validate.h"
#include "routing/spiffe_id.h"

namespace portcullis::gateway::config {

using namespace detail;

// ---- tenants.d/*.toml ----

void Validator::read_tenant(const toml::table& root, const std::string& file, Config& cfg) {
  Reader r(file, out_);
  TenantConfig t;
  t.file = file;
  r.known_keys(root, {"name", "hosts", "tls", "route", "cluster", "rate_limit"}, "a tenant file");

  if (const auto* n = r.str(root, "name", t.name)) {
    if (!valid_tenant_name(t.name)) {
      r.error(r.pos(*n), "tenant name \"" + t.name + "\" is not valid",
              "1 to 63 characters of a-z, 0-9 and '-'");
    } else if (auto [it, fresh] = tenant_names_.emplace(t.name, r.pos(*n)); !fresh) {
      r.error(r.pos(*n), "tenant name \"" + t.name + "\" is already used by " + it->second.file,
              "a name used by no other tenant");
    }
  } else if (r.get(root, "name") == nullptr) {
    r.error(r.file_pos(), "tenant file needs a name", "name = \"acme\"");
  }

  std::vector<const toml::node*> host_nodes;
  if (const auto* n = r.strings(root, "hosts", t.hosts, &host_nodes)) {
    if (t.hosts.empty()) {
      r.error(r.pos(*n), "hosts must not be empty", std::string(kHostAccepted));
    }
    for (std::size_t i = 0; i < host_nodes.size(); ++i) {
      const Pos p = r.pos(*host_nodes[i]);
      t.pos_hosts.push_back(p);
      if (!read_host(r, *host_nodes[i], t.hosts[i], "host")) {
        continue;
      }
      auto [it, fresh] = hosts_.emplace(t.hosts[i], Seen{t.name, p});
      if (!fresh) {
        const Seen& s = it->second;
        if (s.pos.file == file) {
          r.error(p, "host \"" + t.hosts[i] + "\" is listed twice (first at line " +
                         std::to_string(s.pos.line) + ")");
        } else {
          r.error(p, "host \"" + t.hosts[i] + "\" is already claimed by tenant \"" + s.tenant +
                         "\" in " + s.pos.file + ":" + std::to_string(s.pos.line) + ":" +
                         std::to_string(s.pos.col),
                  "a host name that no other tenant lists");
        }
      }
    }
  } else if (r.get(root, "hosts") == nullptr) {
    r.error(r.file_pos(), "tenant file needs hosts", "hosts = [\"shop.example\"]");
  }

  if (const auto* tls = r.table(root, "tls")) {
    r.known_keys(*tls, {"cert", "key", "client_ca", "min_tls", "acme"}, "[tls]");
    const auto* acme_node = tls->get("acme");
    const bool by_acme = acme_node != nullptr && acme_node->value_or(false);
    struct {
      const char* key;
      std::string* out;
      Pos* pos;
      bool required;
    } paths[] = {{"cert", &t.cert, &t.pos_cert, true},
                 {"key", &t.key, &t.pos_key, true},
                 {"client_ca", &t.client_ca, &t.pos_client_ca, false}};
    for (auto& p : paths) {
      std::string s;
      if (const auto* n = r.str(*tls, p.key, s)) {
        *p.pos = r.pos(*n);
        if (s.empty() && p.required) {
          r.error(r.pos(*n), std::string("[tls] ") + p.key + " must not be empty",
                  "a PEM file path");
        } else {
          *p.out = r.resolve(s);
        }
      } else if (p.required && !by_acme && r.get(*tls, p.key) == nullptr) {
        r.error(r.pos(*tls), std::string("[tls] needs ") + p.key, "a PEM file path");
      }
    }
    read_min_tls(r, *tls, t.min_tls);
    read_tenant_acme(r, *tls, cfg.acme, t);
  } else if (r.get(root, "tls") == nullptr) {
    r.error(r.file_pos(), "tenant file needs a [tls] table with cert and key",
            "[tls] cert = \"certs/acme.pem\" key = \"certs/acme.key\"");
  }

  // [rate_limit]: the tenant's requests per second and burst, per worker (rate_limiter.h).
  if (const auto* rl = r.table(root, "rate_limit")) {
    r.known_keys(*rl, {"requests_per_second", "burst"}, "[rate_limit]");
    r.integer(*rl, "requests_per_second", t.requests_per_second, 1, 10'000'000);
    r.integer(*rl, "burst", t.request_burst, 1, 10'000'000);
  }

  // Clusters first, so routes can be checked against them.
  if (const auto* ct = r.table(root, "cluster")) {
    for (auto&& [k, v] : *ct) {
      ClusterConfig c;
      c.name = std::string(k.str());
      const auto* cl = v.as_table();
      if (cl == nullptr) {
        r.error(r.pos(v), "cluster." + c.name + " must be a table ([cluster." + c.name + "])");
        continue;
      }
      c.pos = r.pos(*cl);
      const std::string where = "[cluster." + c.name + "]";
      r.known_keys(*cl,
                   {"endpoints", "identity", "server_name", "protocol", "plaintext",
                    "connect_timeout", "request_timeout", "health_path", "health_interval",
                    "healthy_threshold", "unhealthy_threshold", "max_failures", "eject_time"},
                   where);
      std::vector<const toml::node*> ep_nodes;
      if (const auto* n = r.strings(*cl, "endpoints", c.endpoints, &ep_nodes)) {
        if (c.endpoints.empty()) {
          r.error(r.pos(*n), "endpoints must not be empty", "[\"host:port\", ...]");
        }
        for (std::size_t i = 0; i < ep_nodes.size(); ++i) {
          if (!valid_endpoint(c.endpoints[i])) {
            r.error(r.pos(*ep_nodes[i]), "endpoint \"" + c.endpoints[i] + "\" is not valid",
                    "\"host:port\", \"a.b.c.d:port\" or \"[v6]:port\", port 1-65535");
          }
        }
      } else if (r.get(*cl, "endpoints") == nullptr) {
        r.error(c.pos, where + " needs endpoints", "endpoints = [\"host:port\"]");
      }
      r.boolean(*cl, "plaintext", c.plaintext);
      if (const auto* n = r.str(*cl, "identity", c.identity)) {
        const std::string& td = cfg.mesh.trust_domain;
        if (!valid_spiffe_id(c.identity)) {
          r.error(r.pos(*n), "identity \"" + c.identity + "\" is not a SPIFFE ID",
                  "\"spiffe://" + (td.empty() ? std::string("<trust domain>") : td) + "/ns/" +
                      (t.name.empty() ? std::string("<tenant>") : t.name) + "/...\"");
        } else if (!td.empty() && !t.name.empty()) {
          const std::string prefix = "spiffe://" + td + "/ns/" + t.name + "/";
          if (!routing::in_namespace(c.identity, td, t.name)) {
            r.error(r.pos(*n),
                    "tenant isolation: identity \"" + c.identity + "\" of cluster \"" + c.name +
                        "\" lies outside tenant \"" + t.name + "\"",
                    "an identity under " + prefix);
          }
        }
      }
      if (const auto* n = r.str(*cl, "server_name", c.server_name)) {
        if (!c.server_name.empty() && !valid_dns_name(c.server_name, true, true)) {
          r.error(r.pos(*n), "server_name \"" + c.server_name + "\" is not a DNS name");
        }
      }
      if (c.identity.empty() && c.server_name.empty() && !c.plaintext &&
          r.get(*cl, "identity") == nullptr) {
        r.error(c.pos, where + " needs identity (or server_name) to verify the upstream",
                "identity = \"spiffe://<trust domain>/ns/" + t.name +
                    "/sa/<name>\", server_name = \"<dns name>\", or plaintext = true");
      }
      std::string proto;
      if (r.choice(*cl, "protocol", {"h2", "http/1.1"}, proto)) {
        c.protocol = proto == "h2" ? ClusterConfig::Protocol::h2 : ClusterConfig::Protocol::http1;
      }
      r.duration(*cl, "connect_timeout", c.connect_timeout, false);
      r.duration(*cl, "request_timeout", c.request_timeout, false);
      if (const auto* n = r.str(*cl, "health_path", c.health_path)) {
        if (!c.health_path.empty() && c.health_path.front() != '/') {
          r.error(r.pos(*n), "health_path must start with '/'", "\"/healthz\"");
        }
      }
      r.duration(*cl, "health_interval", c.health_interval, false);
      r.integer(*cl, "healthy_threshold", c.healthy_threshold, 1, 100);
      r.integer(*cl, "unhealthy_threshold", c.unhealthy_threshold, 1, 100);
      r.integer(*cl, "max_failures", c.max_failures, 1, 1000);
      r.duration(*cl, "eject_time", c.eject_time, false);
      if (!c.plaintext && !mtls_user_) {
        mtls_user_ = c.pos;
        mtls_user_what_ = "cluster \"" + c.name + "\" of tenant \"" + t.name + "\" uses mTLS";
      }
      t.clusters.push_back(std::move(c));
    }
  }

  for (const toml::table* rt : r.table_array(root, "route")) {
    RouteConfig rc;
    rc.pos = r.pos(*rt);
    r.known_keys(*rt, {"path", "path_prefix", "cluster", "direct_response", "status", "websocket"},
                 "[[route]]");
    const toml::node* path = r.str(*rt, "path", rc.path);
    const toml::node* prefix = r.str(*rt, "path_prefix", rc.path_prefix);
    const bool has_path = r.get(*rt, "path") != nullptr;
    const bool has_prefix = r.get(*rt, "path_prefix") != nullptr;
    if (has_path == has_prefix) {
      r.error(has_prefix ? r.pos(*r.get(*rt, "path_prefix")) : rc.pos,
              "a route needs exactly one of path and path_prefix",
              "path = \"/exact\" or path_prefix = \"/api/\"");
    } else if (path != nullptr && !rc.path.starts_with('/')) {
      r.error(r.pos(*path), "path \"" + rc.path + "\" must start with '/'", "\"/exact\"");
    } else if (prefix != nullptr && !rc.path_prefix.starts_with('/')) {
      r.error(r.pos(*prefix), "path_prefix \"" + rc.path_prefix + "\" must start with '/'",
              "\"/api/\"");
    }
    rc.prefix = has_prefix;
    const toml::node* cluster = r.str(*rt, "cluster", rc.cluster);
    std::string body;
    const bool has_cluster = r.get(*rt, "cluster") != nullptr;
    const bool has_direct = r.get(*rt, "direct_response") != nullptr;
    if (r.str(*rt, "direct_response", body)) {
      rc.direct_response = body;
    }
    if (has_cluster == has_direct) {
      r.error(has_direct ? r.pos(*r.get(*rt, "direct_response")) : rc.pos,
              "a route needs exactly one of cluster and direct_response",
              "cluster = \"<name of a [cluster.NAME] in this file>\" or direct_response = \"...\"");
    } else if (cluster != nullptr) {
      const bool found = std::any_of(t.clusters.begin(), t.clusters.end(),
                                     [&](const ClusterConfig& c) { return c.name == rc.cluster; });
      if (!found) {
        std::string names;
        for (const auto& c : t.clusters) {
          names += names.empty() ? "\"" : ", \"";
          names += c.name + "\"";
        }
        r.error(r.pos(*cluster),
                "route cluster \"" + rc.cluster + "\" is not a cluster of tenant \"" + t.name +
                    "\" (a tenant's routes reach only its own clusters)",
                names.empty() ? "a [cluster.NAME] defined in this file" : names);
      }
    }
    if (const auto* n = r.integer(*rt, "status", rc.status, 100, 599)) {
      if (!has_direct) {
        r.error(r.pos(*n), "status applies only to routes with direct_response");
      }
    }
    r.boolean(*rt, "websocket", rc.websocket);
    t.routes.push_back(std::move(rc));
  }

  cfg.tenants.push_back(std::move(t));
}

// ---- across files ----

void Validator::adopt(const Config& cfg) {
  mesh_present_ = !cfg.mesh.trust_domain.empty() || !cfg.mesh.ca.empty();
  for (const auto& t : cfg.tenants) {
    tenant_names_.emplace(t.name, Pos{t.file, 0, 0});
    for (std::size_t i = 0; i < t.hosts.size(); ++i) {
      hosts_.emplace(t.hosts[i], Seen{t.name, i < t.pos_hosts.size() ? t.pos_hosts[i]
                                                                    : Pos{t.file, 0, 0}});
    }
  }
  for (const auto& q : cfg.quarantined) {
    tenant_names_.emplace(q.name, Pos{q.file, 0, 0});
    for (const auto& h : q.hosts) {
      hosts_.emplace(h, Seen{q.name, Pos{q.file, 0, 0}});
    }
  }
}

bool Validator::adopt_tenant(const TenantConfig& t) {
  if (tenant_names_.count(t.name) != 0) {
    return false;
  }
  for (const auto& h : t.hosts) {
    if (hosts_.count(h) != 0) {
      return false;
    }
  }
  tenant_names_.emplace(t.name, Pos{t.file, 0, 0});
  for (std::size_t i = 0; i < t.hosts.size(); ++i) {
    hosts_.emplace(t.hosts[i],
                   Seen{t.name, i < t.pos_hosts.size() ? t.pos_hosts[i] : Pos{t.file, 0, 0}});
  }
  return true;
}

void Validator::finish(Config& cfg) {
  for (const SniRef& ref : unknown_sni_refs_) {
    if (tenant_names_.count(ref.tenant) == 0) {
      std::string accepted = "\"reject\"";
      for (const auto& [name, pos] : tenant_names_) {
        accepted += ", \"" + name + "\"";
      }
      out_.push_back(Diagnostic{Diagnostic::Severity::error, ref.pos,
                                "unknown_sni = \"" + ref.tenant + "\" is not a tenant", accepted});
    }
  }
  if (mtls_user_) {
    if (!mesh_present_) {
      out_.push_back(Diagnostic{Diagnostic::Severity::error, *mtls_user_,
                                "[mesh] (trust_domain, ca, cert, key) is required: " +
                                    mtls_user_what_ + ", but " + cfg.file + " has no [mesh]",
                                "a [mesh] table in gateway.toml, or plaintext = true"});
    }
  }
  cfg.tenants.sort([](const TenantConfig& a, const TenantConfig& b) { return a.name < b.name; });
}

}  // namespace portcullis::gateway::config
