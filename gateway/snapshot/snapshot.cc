#include "gateway/snapshot/snapshot.h"

#include <algorithm>
#include <ctime>
#include <string_view>
#include <unordered_map>

#include "certs/pem.h"
#include "gateway/config/analyze.h"
#include "tls/context.h"

namespace portcullis::gateway::runtime {
namespace {

config::Diagnostic error_at(const config::Pos& pos, std::string message) {
  config::Diagnostic d;
  d.pos = pos;
  d.message = std::move(message);
  return d;
}

bool same_time(const timespec& a, const timespec& b) noexcept {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// Per tenant of `c` (by index): the previous generation's runtime whose server context it can
// take over, or nullptr. Same name, same TLS settings, every file stamp unchanged, and nothing
// in the chain expired (an expired chain goes through the analyzer, which refuses it).
using ReusePlan = std::vector<const TenantRuntime*>;

ReusePlan plan_reuse(const config::Config& c, const Snapshot* previous, std::int64_t now) {
  ReusePlan plan(c.tenants.size(), nullptr);
  if (previous == nullptr) {
    return plan;
  }
  std::unordered_map<std::string_view, const TenantRuntime*> by_name;
  by_name.reserve(previous->tenants.size());
  for (const TenantRuntime& rt : previous->tenants) {
    if (rt.server_ctx) {
      by_name.emplace(rt.cfg->name, &rt);
    }
  }
  for (std::size_t i = 0; i < c.tenants.size(); ++i) {
    const config::TenantConfig& t = c.tenants[i];
    const auto it = by_name.find(t.name);
    if (it == by_name.end()) {
      continue;
    }
    const TenantRuntime& old = *it->second;
    const config::TenantConfig& o = *old.cfg;
    const TenantTlsSource& src = old.tls_source;
    if (o.cert != t.cert || o.key != t.key || o.client_ca != t.client_ca ||
        o.min_tls != t.min_tls || src.chain_not_after <= now) {
      continue;
    }
    if (src.cert.same(FileStamp::of(t.cert)) && src.key.same(FileStamp::of(t.key)) &&
        src.client_ca.same(FileStamp::of(t.client_ca))) {
      plan[i] = &old;
    }
  }
  return plan;
}

// Fills what a reload needs to judge reuse and what /metrics shows, from the built context.
void describe_built(SSL_CTX* ctx, TenantTlsSource& src) {
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  if (leaf == nullptr) {
    return;
  }
  src.leaf_sha256 = certs::fingerprint_sha256(leaf);
  src.leaf_not_after = certs::not_after_unix(leaf);
  src.chain_not_after = src.leaf_not_after;
  STACK_OF(X509)* chain = nullptr;
  if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1 && chain != nullptr) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      src.chain_not_after =
          std::min(src.chain_not_after, certs::not_after_unix(sk_X509_value(chain, i)));
    }
  }
}

// One tenant's server context, made (or taken over) before the rest of the snapshot, so that
// the analyzers can be pointed at just the tenants that need them.
struct TenantTlsBuild {
  tls::SslCtxPtr ctx;
  TenantTlsSource source;
  std::string error;     // why ctx is null
  bool reused = false;
  bool analyze = false;  // the build cannot vouch for it: the analyzers must judge
};
using TenantTlsBuilds = std::vector<TenantTlsBuild>;

TenantTlsBuilds build_tenant_tls(const config::Config& c, const ReusePlan& plan,
                                 std::int64_t now) {
  TenantTlsBuilds out(c.tenants.size());
  tls::ContextLoader loader;  // one key decoder and one parse of the shared CA for all tenants
  for (std::size_t i = 0; i < c.tenants.size(); ++i) {
    const config::TenantConfig& t = c.tenants[i];
    TenantTlsBuild& b = out[i];
    if (const TenantRuntime* old = plan[i]) {
      // Unchanged files: share the running context (OpenSSL reference count).
      SSL_CTX_up_ref(old->server_ctx.get());
      b.ctx.reset(old->server_ctx.get());
      b.source = old->tls_source;
      b.reused = true;
      continue;
    }
    tls::ServerContextSpec spec;
    spec.cert_chain = t.cert;
    spec.key = t.key;
    spec.client_ca = t.client_ca;
    spec.min_version = tls::parse_min_version(t.min_tls);
    // Distinct per tenant and per client-auth policy: a session never resumes across them.
    spec.session_id_context = "t:" + t.name + (t.client_ca.empty() ? "" : ":mtls");
    // Stamped before reading: a file that changes during the build differs next time.
    b.source.cert = FileStamp::of(t.cert);
    b.source.key = FileStamp::of(t.key);
    b.source.client_ca = FileStamp::of(t.client_ca);
    auto r = tls::make_server_context(spec, &loader);
    if (!r.ctx) {
      b.error = std::move(r.error);
      b.analyze = true;
      continue;
    }
    b.ctx = std::move(r.ctx);
    describe_built(b.ctx.get(), b.source);
    // A built context proves the files readable and the key matching; what only the analyzers
    // check is an expired certificate in the chain and the client CA bundle.
    b.analyze = b.source.chain_not_after <= now || !t.client_ca.empty();
  }
  return out;
}

BuildResult build(config::Config cfg, std::uint64_t generation, upstream::HealthRegistry* health,
                  const tls::TicketKeyStore* tickets, TenantTlsBuilds tenant_tls);

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

}  // namespace

FileStamp FileStamp::of(const std::string& path) noexcept {
  FileStamp s;
  if (path.empty()) {
    s.ok = true;  // "no file": equal to another "no file"
    return s;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return s;
  }
  s.ok = true;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime = st.st_mtim;
  s.ctime = st.st_ctim;
  return s;
}

bool FileStamp::same(const FileStamp& o) const noexcept {
  return ok && o.ok && dev == o.dev && ino == o.ino && size == o.size &&
         same_time(mtime, o.mtime) && same_time(ctime, o.ctime);
}

const ListenerRuntime* Snapshot::listener(const std::string& name) const noexcept {
  for (const auto& l : listeners) {
    if (l.cfg->name == name) {
      return &l;
    }
  }
  return nullptr;
}

BuildResult build_snapshot(config::Config cfg, std::uint64_t generation,
                           upstream::HealthRegistry* health, const tls::TicketKeyStore* tickets,
                           const Snapshot* previous) {
  const std::int64_t now = unix_now();
  TenantTlsBuilds tenant_tls = build_tenant_tls(cfg, plan_reuse(cfg, previous, now), now);
  return build(std::move(cfg), generation, health, tickets, std::move(tenant_tls));
}

namespace {

BuildResult build(config::Config cfg, std::uint64_t generation, upstream::HealthRegistry* health,
                  const tls::TicketKeyStore* tickets, TenantTlsBuilds tenant_tls) {
  auto snap = std::make_shared<Snapshot>();
  snap->generation = generation;
  snap->config = std::move(cfg);
  const config::Config& c = snap->config;
  BuildResult result;
  auto& errors = result.errors;

  // The mesh client contexts: our workload certificate, the mesh bundle as the only roots.
  bool need_mesh = false;
  for (const auto& t : c.tenants) {
    for (const auto& cl : t.clusters) {
      need_mesh = need_mesh || !cl.plaintext;
    }
  }
  if (need_mesh || !c.mesh.cert.empty()) {
    for (const bool h2 : {true, false}) {
      tls::ClientContextSpec spec;
      spec.cert_chain = c.mesh.cert;
      spec.key = c.mesh.key;
      spec.ca_bundle = c.mesh.ca;
      spec.alpn = {h2 ? "h2" : "http/1.1"};
      auto r = tls::make_client_context(spec);
      if (!r.ctx) {
        errors.push_back(error_at(c.mesh.pos_cert, "[mesh]: " + r.error));
        break;
      }
      (h2 ? snap->mesh_h2 : snap->mesh_h1) = std::move(r.ctx);
    }
    certs::Chain chain;
    certs::LoadError err;
    if (!c.mesh.cert.empty() && certs::load_chain(c.mesh.cert, chain, err) &&
        !chain.certs.empty()) {
      X509* leaf = chain.certs.front().get();
      snap->certs.push_back(CertFact{"mesh", c.mesh.cert, certs::fingerprint_sha256(leaf),
                                     certs::not_after_unix(leaf)});
      const auto uris = certs::uri_sans(chain.certs.front().get());
      if (!uris.empty()) {
        snap->gateway_identity = uris.front();
      }
    }
  }

  snap->tenants.reserve(c.tenants.size());
  for (std::uint32_t ti = 0; ti < c.tenants.size(); ++ti) {
    const config::TenantConfig& t = c.tenants[ti];
    TenantRuntime& rt = snap->tenants.emplace_back();
    rt.cfg = &t;
    const int min_version = tls::parse_min_version(t.min_tls);
    TenantTlsBuild& b = tenant_tls[ti];
    if (!b.ctx) {
      errors.push_back(error_at(t.pos_cert, "tenant " + t.name + ": " + b.error));
      continue;
    }
    rt.server_ctx = std::move(b.ctx);
    rt.tls_source = std::move(b.source);
    ++(b.reused ? result.tenants_reused : result.tenants_built);
    if (!rt.tls_source.leaf_sha256.empty()) {
      snap->certs.push_back(CertFact{"tenant:" + t.name, t.cert, rt.tls_source.leaf_sha256,
                                     rt.tls_source.leaf_not_after});
    }
    snap->sni.add_tenant(tls::TenantTls{rt.server_ctx.get(), min_version, ti});
    for (const auto& h : t.hosts) {
      if (!snap->sni.add_host(h, ti)) {
        errors.push_back(error_at(t.pos_cert, "host " + h + " of tenant " + t.name +
                                                  " is already used by another tenant"));
      }
    }
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
      tg.ctx = cl.plaintext ? nullptr : (h2 ? snap->mesh_h2.get() : snap->mesh_h1.get());
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

  for (std::uint32_t ei = 0; ei < c.egress.size(); ++ei) {
    const config::EgressConfig& e = c.egress[ei];
    EgressRuntime& er = snap->egress.emplace_back();
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
    snap->egress_policy.add(routing::EgressRule{e.host, e.port, e.allow, ei});
  }

  for (const auto& l : c.listeners) {
    ListenerRuntime& lr = snap->listeners.emplace_back();
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
      lr.selector.table = &snap->sni;  // plain HTTP: no TLS context; the hosts for the redirect
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
    lr.selector.table = &snap->sni;
    if (l.unknown_sni != "reject") {
      for (std::uint32_t ti = 0; ti < c.tenants.size(); ++ti) {
        if (c.tenants[ti].name == l.unknown_sni) {
          lr.selector.fallback = ti;
        }
      }
    }
  }

  if (errors.empty()) {
    result.snapshot = std::move(snap);
  }
  return result;
}

}  // namespace

BuildResult load_snapshot(const std::string& config_path, std::uint64_t generation,
                          upstream::HealthRegistry* health, const tls::TicketKeyStore* tickets,
                          const Snapshot* previous) {
  config::LoadResult loaded = config::load(config_path);
  if (!loaded.ok()) {
    BuildResult r;
    for (auto& d : loaded.diagnostics) {
      if (d.severity == config::Diagnostic::Severity::error) {
        r.errors.push_back(std::move(d));
      }
    }
    return r;
  }
  // The analyzers' errors (expired certificate, key not matching its certificate...) refuse
  // the config too; their warnings are for `check`. Tenants whose context is reused were
  // analyzed when it was built and their files have not changed: leave them out (at 100k
  // tenants the analyzers parse every certificate and key again, the bulk of a reload).
  // The analyzers judge everything but the tenants, and the tenants whose build cannot vouch
  // for them: at 100k tenants, analyzing all of them parsed every certificate and key twice
  // (analyzers, then the build), the bulk of start-up. Reused tenants were judged when built.
  config::Config& cfg = *loaded.config;
  config::ensure_acme_placeholders(cfg);  // [tls] acme = true before the first issuance
  const std::int64_t now = unix_now();
  TenantTlsBuilds tenant_tls = build_tenant_tls(cfg, plan_reuse(cfg, previous, now), now);
  std::vector<config::TenantConfig> all = std::move(cfg.tenants);
  cfg.tenants.clear();
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (tenant_tls[i].analyze) {
      cfg.tenants.push_back(all[i]);
    }
  }
  std::vector<config::Diagnostic> diagnostics = config::analyze(cfg);
  cfg.tenants = std::move(all);
  BuildResult r;
  for (auto& d : diagnostics) {
    if (d.severity == config::Diagnostic::Severity::error) {
      r.errors.push_back(std::move(d));
    }
  }
  if (!r.errors.empty()) {
    return r;
  }
  return build(std::move(cfg), generation, health, tickets, std::move(tenant_tls));
}

}  // namespace portcullis::gateway::runtime
