// The gateway.toml schema: [gateway], [limits] (rows of limits_table.h), [admin], [log], [mesh],
// [[listener]] and [[egress]].
#include <algorithm>
#include <limits>
#include <map>

#include "gateway/config/limits_table.h"
#include "gateway/config/reader.h"
#include "gateway/config/validate.h"
#include "gateway/observe/access_log.h"

namespace portcullis::gateway::config {

using namespace detail;

namespace {

// memory_budget = "auto" | "off" | a size within the row's bounds ("2GiB").
void read_memory_budget(Reader& r, const toml::table& t, const LimitRow& row, Limits& l) {
  const toml::node* n = r.get(t, row.key);
  l.pos_memory_budget = r.pos(*n);
  if (const auto* s = n->as_string(); s != nullptr && !parse_size(s->get())) {
    if (s->get() == "auto" || s->get() == "off") {
      l.memory_budget = s->get() == "auto" ? Limits::kMemoryBudgetAuto : 0;
    } else {
      r.error(r.pos(*n), std::string(row.key) + " = \"" + s->get() + "\" is not valid",
              R"("auto", "off", or a size such as "2GiB")");
    }
    return;
  }
  r.size(t, row.key, l.memory_budget, row.lo, row.hi);
}

// One [limits] key, read as its row says; out-of-range values name the row's bounds.
void read_limit(Reader& r, const toml::table& t, const LimitRow& row, Limits& l) {
  constexpr auto kMaxInt = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t v = 0;
  switch (row.kind) {
    case LimitKind::count: {
      std::int64_t i = 0;
      if (r.integer(t, row.key, i, static_cast<std::int64_t>(row.lo),
                    static_cast<std::int64_t>(std::min(row.hi, kMaxInt))) == nullptr) {
        return;
      }
      v = static_cast<std::uint64_t>(i);
      break;
    }
    case LimitKind::size:
      if (r.size(t, row.key, v, row.lo, row.hi) == nullptr) {
        return;
      }
      break;
    case LimitKind::duration: {
      Millis d{};
      const toml::node* n = r.duration(t, row.key, d, true);
      if (n == nullptr) {
        return;
      }
      v = static_cast<std::uint64_t>(d.count());
      if (v < row.lo || v > row.hi) {
        r.error(r.pos(*n),
                std::string(row.key) + " = \"" + n->as_string()->get() + "\" is out of range",
                limit_bounds(row) + " (" + std::string(kDurationAccepted) + ")");
        return;
      }
      break;
    }
    case LimitKind::memory:
      read_memory_budget(r, t, row, l);
      return;
  }
  set_limit(l, row, v);
}

void read_limits(Reader& r, const toml::table& t, Limits& l) {
  for (auto&& [k, v] : t) {
    if (find_limit(k.str()) == nullptr) {
      std::string list;
      for (const LimitRow& row : limit_rows()) {
        list += list.empty() ? "" : ", ";
        list += row.key;
      }
      r.error(r.pos(k), "unknown key '" + std::string(k.str()) + "' in [limits]", list);
    }
  }
  for (const LimitRow& row : limit_rows()) {
    if (r.get(t, row.key) != nullptr) {
      read_limit(r, t, row, l);
    }
  }
  if (const toml::node* n = r.get(t, "max_connections_per_listener"); n != nullptr) {
    l.pos_max_connections_per_listener = r.pos(*n);  // explicit: check's descriptor warning
  }
}

}  // namespace

void Validator::read_gateway(const toml::table& root, const std::string& file, Config& cfg) {
  Reader r(file, out_);
  cfg.file = file;
  r.known_keys(root, {"gateway", "limits", "admin", "log", "mesh", "listener", "egress", "acme"},
               "gateway.toml");

  cfg.gateway.tenants_dir = r.resolve("tenants.d");
  if (const auto* g = r.table(root, "gateway")) {
    r.known_keys(*g,
                 {"workers", "tenants_dir", "drain_timeout", "ticket_keys", "resolver",
                  "tenant_errors", "drain_delay", "state_dir"},
                 "[gateway]");
    r.integer(*g, "workers", cfg.gateway.workers, 0, 1024);
    std::string dir;
    if (const auto* n = r.str(*g, "tenants_dir", dir)) {
      tenants_dir_explicit_ = true;
      tenants_dir_pos_ = r.pos(*n);
      if (dir.empty()) {
        r.error(r.pos(*n), "tenants_dir must not be empty", "a directory path");
      } else {
        cfg.gateway.tenants_dir = r.resolve(dir);
      }
    }
    r.duration(*g, "drain_timeout", cfg.gateway.drain_timeout, true);
    r.duration(*g, "drain_delay", cfg.gateway.drain_delay, true);
    if (r.str(*g, "state_dir", dir)) {
      cfg.gateway.state_dir = dir.empty() ? dir : r.resolve(dir);  // "" turns hand-off off
    }
    std::string s;
    if (r.choice(*g, "tenant_errors", {"quarantine", "refuse"}, s)) {
      cfg.gateway.tenant_errors = s == "refuse" ? GatewaySection::TenantErrors::refuse
                                                : GatewaySection::TenantErrors::quarantine;
    }
    if (r.str(*g, "ticket_keys", s)) {
      cfg.gateway.ticket_keys = r.resolve(s);
    }
    if (const auto* n = r.str(*g, "resolver", s)) {
      // One "ip:port" or several, comma-separated (tried in order by gateway/dns).
      for (std::size_t at = 0; !s.empty() && at <= s.size();) {
        const std::size_t end = std::min(s.find(',', at), s.size());
        std::string_view one = std::string_view(s).substr(at, end - at);
        one.remove_prefix(std::min(one.find_first_not_of(' '), one.size()));
        one.remove_suffix(one.size() - std::min(one.find_last_not_of(' ') + 1, one.size()));
        auto a = parse_socket_address(one);
        if (!a || a->port == 0) {
          r.error(r.pos(*n), "resolver = \"" + s + "\" is not a numeric address (or a list)",
                  std::string(kAddressAccepted));
          break;
        }
        at = end + 1;
      }
      cfg.gateway.resolver = s;
    }
  }

  if (const auto* l = r.table(root, "limits")) {
    read_limits(r, *l, cfg.limits);
  }

  if (const auto* a = r.table(root, "admin")) {
    read_admin_section(r, *a, cfg.admin);  // admin_schema.cc
  }
  if (cfg.admin.pos.file.empty()) {
    cfg.admin.pos = r.file_pos();
  }

  if (const auto* lg = r.table(root, "log")) {
    r.known_keys(*lg, {"access", "audit", "audit_key", "access_sample"}, "[log]");
    std::string s;
    const auto special = [](const std::string& v) {
      return v == "-" || v.empty() || v == observe::kSyslogPath;
    };
    if (r.str(*lg, "access", s)) {
      cfg.log.access = special(s) ? s : r.resolve(s);
    }
    if (r.str(*lg, "audit", s)) {
      cfg.log.audit = special(s) ? s : r.resolve(s);
    }
    if (const auto* n = r.get(*lg, "access_sample")) {
      const auto v = n->value<double>();
      if (!v || !(*v >= 0.0 && *v <= 1.0)) {
        r.error(r.pos(*n), "access_sample is not a fraction",
                "a number from 0 to 1 (1 logs every successful request; errors always)");
      } else {
        cfg.log.access_sample = *v;
      }
    }
    if (r.str(*lg, "audit_key", s) && !s.empty()) {
      cfg.log.audit_key = r.resolve(s);
    }
  }

  if (const auto* m = r.table(root, "mesh")) {
    mesh_present_ = true;
    mesh_pos_ = r.pos(*m);
    r.known_keys(*m, {"trust_domain", "ca", "cert", "key"}, "[mesh]");
    std::string s;
    if (const auto* n = r.str(*m, "trust_domain", s)) {
      if (!valid_trust_domain(s)) {
        r.error(r.pos(*n), "trust_domain = \"" + s + "\" is not a valid SPIFFE trust domain",
                "lower-case letters, digits, '.', '-', '_' (e.g. \"mesh.example\")");
      } else {
        cfg.mesh.trust_domain = s;
      }
    } else if (r.get(*m, "trust_domain") == nullptr) {
      r.error(mesh_pos_, "[mesh] needs trust_domain", "trust_domain = \"mesh.example\"");
    }
    struct {
      const char* key;
      std::string* out;
      Pos* pos;
    } paths[] = {{"ca", &cfg.mesh.ca, &cfg.mesh.pos_ca},
                 {"cert", &cfg.mesh.cert, &cfg.mesh.pos_cert},
                 {"key", &cfg.mesh.key, &cfg.mesh.pos_key}};
    for (auto& p : paths) {
      if (const auto* n = r.str(*m, p.key, s)) {
        *p.pos = r.pos(*n);
        if (s.empty()) {
          r.error(r.pos(*n), std::string("[mesh] ") + p.key + " must not be empty",
                  "a PEM file path");
        } else {
          *p.out = r.resolve(s);
        }
      } else if (r.get(*m, p.key) == nullptr) {
        r.error(mesh_pos_, std::string("[mesh] needs ") + p.key, "a PEM file path");
      }
    }
  }

  if (const auto* a = r.table(root, "acme")) {
    read_acme_section(r, *a, cfg.acme);
  }

  std::map<std::string, Pos> names;
  std::map<std::string, Pos> addresses;
  for (const toml::table* lt : r.table_array(root, "listener")) {
    ListenerConfig l;
    l.pos = r.pos(*lt);
    r.known_keys(*lt,
                 {"name", "kind", "address", "proxy_protocol", "trusted_proxies", "unknown_sni",
                  "client_auth"},
                 "[[listener]]");
    if (const auto* n = r.str(*lt, "name", l.name)) {
      if (l.name.empty()) {
        r.error(r.pos(*n), "listener name must not be empty");
      } else if (auto [it, fresh] = names.emplace(l.name, r.pos(*n)); !fresh) {
        r.error(r.pos(*n), "duplicate listener name \"" + l.name + "\" (first at line " +
                               std::to_string(it->second.line) + ")",
                "a name used by no other listener");
      }
    } else if (r.get(*lt, "name") == nullptr) {
      r.error(l.pos, "[[listener]] needs a name", "name = \"public\"");
    }
    std::string kind = "ingress";
    if (r.get(*lt, "kind") == nullptr) {
      r.error(l.pos, "[[listener]] needs a kind", R"("ingress", "egress", "http")");
    } else if (r.choice(*lt, "kind", {"ingress", "egress", "http"}, kind)) {
      l.kind = kind == "egress" ? ListenerConfig::Kind::egress
               : kind == "http" ? ListenerConfig::Kind::http
                                : ListenerConfig::Kind::ingress;
    }
    if (const auto* n = r.str(*lt, "address", l.address)) {
      if (!parse_socket_address(l.address)) {
        r.error(r.pos(*n), "address = \"" + l.address + "\" is not a valid listen address",
                std::string(kAddressAccepted));
      } else if (auto a = parse_socket_address(l.address); a->port != 0) {
        if (auto [it, fresh] = addresses.emplace(l.address, r.pos(*n)); !fresh) {
          r.error(r.pos(*n), "address \"" + l.address + "\" is already used by another listener"
                             " (line " + std::to_string(it->second.line) + ")");
        }
      }
    } else if (r.get(*lt, "address") == nullptr) {
      r.error(l.pos, "[[listener]] needs an address", std::string(kAddressAccepted));
    }
    std::string pp;
    if (r.choice(*lt, "proxy_protocol", {"off", "v1", "v2", "any"}, pp)) {
      l.proxy_protocol = pp == "v1"   ? ListenerConfig::ProxyProtocol::v1
                         : pp == "v2" ? ListenerConfig::ProxyProtocol::v2
                         : pp == "any" ? ListenerConfig::ProxyProtocol::any
                                       : ListenerConfig::ProxyProtocol::off;
    }
    std::vector<const toml::node*> nodes;
    if (r.strings(*lt, "trusted_proxies", l.trusted_proxies, &nodes)) {
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (!valid_cidr(l.trusted_proxies[i])) {
          r.error(r.pos(*nodes[i]), "\"" + l.trusted_proxies[i] + "\" is not a CIDR",
                  R"("10.0.0.0/8", "2001:db8::/32" or a single address)");
        }
      }
    }
    if (const auto* n = r.str(*lt, "unknown_sni", l.unknown_sni)) {
      if (l.unknown_sni != "reject") {
        unknown_sni_refs_.push_back(SniRef{l.unknown_sni, r.pos(*n)});
      }
    }
    if (const auto* n = r.get(*lt, "client_auth")) {
      std::string ca;
      if (l.kind != ListenerConfig::Kind::egress) {
        r.error(r.pos(*n), "client_auth applies to egress listeners only",
                "client certificates at ingress are set per tenant with [tls] client_ca");
      } else if (r.choice(*lt, "client_auth", {"mesh", "none"}, ca)) {
        l.client_auth =
            ca == "none" ? ListenerConfig::ClientAuth::none : ListenerConfig::ClientAuth::mesh;
      }
    }
    if (l.kind == ListenerConfig::Kind::egress &&
        l.client_auth == ListenerConfig::ClientAuth::mesh && !mtls_user_) {
      mtls_user_ = l.pos;
      mtls_user_what_ = "egress listener \"" + l.name + "\" authenticates workloads by mesh mTLS";
    }
    cfg.listeners.push_back(std::move(l));
  }

  for (const toml::table* et : r.table_array(root, "egress")) {
    EgressConfig e;
    e.pos = r.pos(*et);
    r.known_keys(*et, {"host", "port", "ca", "pins", "allow", "min_tls", "mode", "allow_private"},
                 "[[egress]]");
    if (const auto* n = r.str(*et, "host", e.host)) {
      read_host(r, *n, e.host, "egress host");
    } else if (r.get(*et, "host") == nullptr) {
      r.error(e.pos, "[[egress]] needs a host", std::string(kHostAccepted));
    }
    r.integer(*et, "port", e.port, 1, 65535);
    std::string ca;
    if (const auto* n = r.str(*et, "ca", ca)) {
      if (ca.empty()) {
        r.error(r.pos(*n), "egress ca must not be empty", R"("system" or a PEM bundle path)");
      } else {
        e.ca = ca == "system" ? ca : r.resolve(ca);
      }
    }
    std::vector<const toml::node*> pin_nodes;
    if (r.strings(*et, "pins", e.pins, &pin_nodes)) {
      for (std::size_t i = 0; i < pin_nodes.size(); ++i) {
        if (!valid_pin(e.pins[i])) {
          r.error(r.pos(*pin_nodes[i]), "pin \"" + e.pins[i] + "\" is not a SHA-256 SPKI pin",
                  "\"sha256/\" followed by the base64 of 32 bytes (44 characters)");
        }
      }
    }
    std::vector<const toml::node*> allow_nodes;
    if (const auto* n = r.strings(*et, "allow", e.allow, &allow_nodes)) {
      if (e.allow.empty()) {
        r.error(r.pos(*n), "allow must not be empty",
                "SPIFFE IDs of the workloads allowed to reach this destination, or \"*\"");
      }
      for (std::size_t i = 0; i < allow_nodes.size(); ++i) {
        // "unauthenticated" names the clients of a client_auth = "none" listener; "*" does not
        // include them.
        if (e.allow[i] != "*" && e.allow[i] != "unauthenticated" &&
            !valid_spiffe_id(e.allow[i])) {
          r.error(r.pos(*allow_nodes[i]), "allow entry \"" + e.allow[i] + "\" is not a SPIFFE ID",
                  "\"spiffe://<trust domain>/ns/<ns>/sa/<sa>\", \"*\" (any mesh identity) or "
                  "\"unauthenticated\"");
        }
      }
    } else if (r.get(*et, "allow") == nullptr) {
      r.error(e.pos, "[[egress]] needs allow (default deny: nobody may use this entry)",
              "allow = [\"spiffe://<trust domain>/ns/<ns>/sa/<sa>\"] or [\"*\"]");
    }
    read_min_tls(r, *et, e.min_tls);
    r.choice(*et, "mode", {"originate", "tunnel"}, e.mode);
    r.boolean(*et, "allow_private", e.allow_private);
    cfg.egress.push_back(std::move(e));
  }
}

}  // namespace portcullis::gateway::config
