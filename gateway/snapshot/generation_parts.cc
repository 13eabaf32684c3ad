#include "gateway/snapshot/generation_parts.h"

#include <algorithm>

#include "gateway/snapshot/tenant_tls.h"
#include "tls/context.h"

namespace portcullis::gateway::runtime {

namespace detail {

tls::SslCtxPtr share(const tls::SslCtxPtr& ctx) {
  if (ctx) {
    SSL_CTX_up_ref(ctx.get());
  }
  return tls::SslCtxPtr(ctx.get());
}

void add_paths(TenantRuntime& rt, const config::TenantConfig& t, const Snapshot& snap,
               upstream::HealthRegistry* health, std::vector<config::Diagnostic>& errors) {
  for (const auto& cl : t.clusters) {
    ClusterRuntime& crt = rt.clusters.emplace_back();
    crt.cfg = &cl;
    for (const auto& e : cl.endpoints) {
      if (auto hp = io::split_host_port(e)) {
        crt.endpoints.push_back(upstream::Endpoint{
            *hp, std::nullopt,
            health != nullptr ? health->get(t.name + "/" + cl.name + "/" + e) : nullptr});
      } else {
        errors.push_back(error_at(cl.pos, "cluster " + cl.name + ": bad endpoint " + e));
      }
    }
    const bool h2 = cl.protocol == config::ClusterConfig::Protocol::h2;
    upstream::Target& tg = crt.target;
    tg.name = cl.name;
    tg.tenant = t.name;
    tg.ctx = cl.plaintext ? nullptr : (h2 ? snap.mesh_h2.get() : snap.mesh_h1.get());
    tg.sni = cl.server_name;
    tg.expect_uri = cl.identity;
    tg.expect_dns = cl.identity.empty() ? cl.server_name : "";
    tg.require_h2 = h2;
    tg.prefer_h2 = h2;
    tg.connect_timeout = cl.connect_timeout;
    tg.request_timeout = cl.request_timeout;
    tg.max_failures = cl.max_failures;
    tg.eject_time = cl.eject_time;
  }
  for (std::uint32_t ri = 0; ri < t.routes.size(); ++ri) {
    const config::RouteConfig& route = t.routes[ri];
    if (route.prefix) {
      rt.routes.add_prefix(route.path_prefix, ri);
    } else {
      rt.routes.add_exact(route.path, ri);
    }
    int cluster = -1;
    for (std::size_t ci = 0; ci < t.clusters.size(); ++ci) {
      if (t.clusters[ci].name == route.cluster) {
        cluster = static_cast<int>(ci);
      }
    }
    rt.route_cluster.push_back(cluster);
  }
}

void build_edges(Snapshot& snap, const tls::TicketKeyStore* tickets,
                 std::vector<config::Diagnostic>& errors) {
  const config::Config& c = snap.config;
  for (std::uint32_t ei = 0; ei < c.egress.size(); ++ei) {
    const config::EgressConfig& e = c.egress[ei];
    EgressRuntime& er = snap.egress.emplace_back();
    er.cfg = &e;
    tls::ClientContextSpec spec;
    spec.ca_bundle = e.ca;
    spec.min_version = tls::parse_min_version(e.min_tls);
    spec.alpn = {"h2", "http/1.1"};
    auto r = tls::make_client_context(spec);
    if (!r.ctx) {
      errors.push_back(error_at(e.pos, "egress " + e.host + ": " + r.error));
      continue;
    }
    // Security level 2: RSA and DH under 2048 bits fail chain verification (weak_key).
    SSL_CTX_set_security_level(r.ctx.get(), 2);
    er.ctx = std::move(r.ctx);
    snap.egress_policy.add(routing::EgressRule{e.host, e.port, e.allow, ei});
  }

  for (const auto& l : c.listeners) {
    ListenerRuntime& lr = snap.listeners.emplace_back();
    lr.cfg = &l;
    auto hp = io::split_host_port(l.address);
    if (!hp || !io::parse_ip(hp->host, hp->port, lr.addr)) {
      errors.push_back(error_at(l.pos, "listener " + l.name + ": address must be ip:port"));
      continue;
    }
    for (const auto& c : l.trusted_proxies) {
      if (auto cidr = listen::Cidr::parse(c)) {
        lr.trusted_proxies.push_back(*cidr);
      } else {
        errors.push_back(error_at(l.pos, "listener " + l.name + ": bad trusted_proxies " + c));
      }
    }
    using PP = config::ListenerConfig::ProxyProtocol;
    lr.proxy_parser = listen::ProxyHeaderParser(
        l.proxy_protocol == PP::v1   ? listen::ProxyVersions::v1
        : l.proxy_protocol == PP::v2 ? listen::ProxyVersions::v2
                                     : listen::ProxyVersions::any);
    if (l.kind == config::ListenerConfig::Kind::http) {
      lr.selector.table = &snap.sni;  // plain HTTP: no TLS context; the hosts for the redirect
      continue;
    }
    if (l.kind == config::ListenerConfig::Kind::egress) {
      if (l.client_auth == config::ListenerConfig::ClientAuth::none) {
        continue;  // plain HTTP from loopback clients only; no TLS context
      }
      // Workloads authenticate with their mesh certificate; we present ours.
      tls::ServerContextSpec spec;
      spec.cert_chain = c.mesh.cert;
      spec.key = c.mesh.key;
      spec.client_ca = c.mesh.ca;
      spec.session_id_context = "egress:" + l.name;
      auto r = tls::make_server_context(spec);
      if (!r.ctx) {
        errors.push_back(error_at(l.pos, "listener " + l.name + ": " + r.error));
        continue;
      }
      lr.front_ctx = std::move(r.ctx);
      if (tickets != nullptr) {
        tls::install_ticket_callback(lr.front_ctx.get(), tickets);
      }
      continue;
    }
    auto r = tls::make_front_context(true);
    if (!r.ctx) {
      errors.push_back(error_at(l.pos, "listener " + l.name + ": " + r.error));
      continue;
    }
    lr.front_ctx = std::move(r.ctx);
    tls::install_client_hello_callback(lr.front_ctx.get());
    if (tickets != nullptr) {
      tls::install_ticket_callback(lr.front_ctx.get(), tickets);
    }
    lr.selector.table = &snap.sni;
    if (l.unknown_sni != "reject") {  // tenants are sorted by name
      const auto it = std::lower_bound(
          c.tenants.begin(), c.tenants.end(), l.unknown_sni,
          [](const config::TenantConfig& t, const std::string& n) { return t.name < n; });
      if (it != c.tenants.end() && it->name == l.unknown_sni) {
        lr.selector.fallback = static_cast<std::uint32_t>(it - c.tenants.begin());
      }
    }
  }

}

}  // namespace detail

}  // namespace portcullis::gateway::runtime
