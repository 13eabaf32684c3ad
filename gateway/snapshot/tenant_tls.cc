#include "gateway/snapshot/tenant_tls.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "certs/pem.h"
#include "tls/context.h"

namespace portcullis::gateway::runtime::detail {
namespace {

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

// Whether t names one of the changed files as its certificate, key or client CA.
bool names_changed_tls(const config::TenantConfig& t, const FileSet& changed) {
  return changed.count(t.cert) != 0 || changed.count(t.key) != 0 ||
         (!t.client_ca.empty() && changed.count(t.client_ca) != 0);
}

}  // namespace

config::Diagnostic error_at(const config::Pos& pos, std::string message) {
  config::Diagnostic d;
  d.pos = pos;
  d.message = std::move(message);
  return d;
}

bool taken_as_is(const config::Config& c, const Snapshot& previous, std::size_t i, bool lazy,
                 std::int64_t now, const FileSet& changed) noexcept {
  const auto& was = previous.config.tenants;
  if (i >= was.size() || i >= previous.tenants.size() || !c.tenants.same(i, &was[i]) ||
      names_changed_tls(was[i], changed)) {
    return false;
  }
  const tls::TenantTls* e = previous.sni.tenant(static_cast<std::uint32_t>(i));
  if (e == nullptr || e->tenant != i || e->quarantined) {
    return false;
  }
  if (lazy) {
    return e->lazy != nullptr;
  }
  return e->ctx != nullptr && previous.tenants[i].tls_source.chain_not_after > now;
}

ReusePlan plan_reuse(const config::Config& c, const Snapshot* previous, std::int64_t now,
                     const FileSet* changed) {
  ReusePlan plan(c.tenants.size());
  if (previous == nullptr) {
    return plan;
  }
  const bool lazy = tenants_on_demand(c);
  const auto& prev = previous->tenants;
  std::unordered_map<std::string_view, std::size_t> by_name;  // built when an index moved
  const auto old_index = [&](std::size_t i, const std::string& name) -> std::size_t {
    for (const std::size_t j : {i, i - 1, i + 1}) {  // i - 1 wraps past the end at 0
      if (j < prev.size() && prev[j].cfg->name == name) {
        return j;
      }
    }
    if (by_name.empty()) {
      by_name.reserve(prev.size());
      for (std::size_t j = 0; j < prev.size(); ++j) {
        by_name.emplace(prev[j].cfg->name, j);
      }
    }
    const auto it = by_name.find(name);
    return it == by_name.end() ? prev.size() : it->second;
  };
  for (std::size_t i = 0; i < c.tenants.size(); ++i) {
    if (changed != nullptr && taken_as_is(c, *previous, i, lazy, now, *changed)) {
      continue;  // build_tenant_tls marks it taken
    }
    const config::TenantConfig& t = c.tenants[i];
    const std::size_t j = old_index(i, t.name);
    if (j >= prev.size()) {
      continue;
    }
    if (reusable(t, prev[j], now, changed)) {
      plan[i] = prev.shared(j);
    }
  }
  return plan;
}

bool reusable(const config::TenantConfig& t, const TenantRuntime& old, std::int64_t now,
              const FileSet* changed) {
  if (!old.server_ctx && !old.lazy) {
    return false;
  }
  const config::TenantConfig& o = *old.cfg;
  const TenantTlsSource& src = old.tls_source;
  if (!old.lazy && src.chain_not_after <= now) {
    return false;
  }
  if (changed != nullptr && &o == &t && !names_changed_tls(t, *changed)) {
    return true;  // the same configuration object, and none of its TLS files changed
  }
  if (o.cert != t.cert || o.key != t.key || o.client_ca != t.client_ca ||
      o.min_tls != t.min_tls) {
    return false;
  }
  if (changed != nullptr && changed->count(t.file) == 0 && changed->count(t.cert) == 0 &&
      changed->count(t.key) == 0 && changed->count(t.client_ca) == 0) {
    return true;  // the watcher named what changed: the others' files are not stat()ed
  }
  return src.cert.same(FileStamp::of(t.cert)) && src.key.same(FileStamp::of(t.key)) &&
         src.client_ca.same(FileStamp::of(t.client_ca));
}

bool tenants_on_demand(const config::Config& c) noexcept {
  const std::uint32_t cap = c.limits.max_tenant_contexts;
  return cap != 0 && c.tenants.size() > cap;
}

TenantTlsBuild build_one(const config::TenantConfig& t,
                         const std::shared_ptr<const TenantRuntime>& reuse, bool lazy,
                         tls::ContextLoader& loader, std::int64_t now) {
  TenantTlsBuild b;
  if (const TenantRuntime* old = reuse.get(); old != nullptr && lazy && old->lazy) {
    b.lazy = old->lazy;  // built or not, failed or not: the same files
    b.source() = old->tls_source;
    b.reused = true;
    b.from = reuse;
    return b;
  }
  if (const TenantRuntime* old = reuse.get(); old != nullptr && !lazy && old->server_ctx) {
    // Unchanged files: share the running context (OpenSSL reference count).
    SSL_CTX_up_ref(old->server_ctx.get());
    b.ctx.reset(old->server_ctx.get());
    b.source() = old->tls_source;
    b.reused = true;
    b.from = reuse;
    return b;
  }
  tls::ServerContextSpec spec;
  spec.cert_chain = t.cert;
  spec.key = t.key;
  spec.client_ca = t.client_ca;
  spec.min_version = tls::parse_min_version(t.min_tls);
  // Distinct per tenant and per client-auth policy: a session never resumes across them.
  spec.session_id_context = "t:" + t.name + (t.client_ca.empty() ? "" : ":mtls");
  // Stamped before reading: a file that changes during the build differs next time.
  b.source().cert = FileStamp::of(t.cert);
  b.source().key = FileStamp::of(t.key);
  b.source().client_ca = FileStamp::of(t.client_ca);
  if (lazy) {
    const std::pair<const FileStamp*, const std::string*> files[] = {
        {&b.source().cert, &t.cert},
        {&b.source().key, &t.key},
        {&b.source().client_ca, &t.client_ca}};
    for (const auto& [stamp, path] : files) {
      if (!stamp->ok) {
        b.error() = "cannot read " + *path;
        b.analyze = true;  // the analyzers say it with file:line
        break;
      }
    }
    if (b.error().empty()) {
      b.lazy = std::make_shared<tls::LazyContext>(std::move(spec), t.name, t.file);
    }
    return b;
  }
  auto r = tls::make_server_context(spec, &loader);
  if (!r.ctx) {
    b.error() = std::move(r.error);
    b.analyze = true;
    return b;
  }
  b.ctx = std::move(r.ctx);
  describe_built(b.ctx.get(), b.source());
  // A built context proves the files readable and the key matching; what only the analyzers
  // check is an expired certificate in the chain and the client CA bundle.
  b.analyze = b.source().chain_not_after <= now || !t.client_ca.empty();
  return b;
}

TenantTlsBuilds build_tenant_tls(const config::Config& c, const ReusePlan& plan,
                                 std::int64_t now, const Snapshot* take_over,
                                 const FileSet* changed) {
  static const FileSet kNone;
  TenantTlsBuilds out(c.tenants.size());
  const bool lazy = tenants_on_demand(c);
  tls::ContextCache::instance().set_capacity(c.limits.max_tenant_contexts);
  tls::ContextLoader loader;  // one key decoder and one parse of the shared CA for all tenants
  for (std::size_t i = 0; i < c.tenants.size(); ++i) {
    TenantTlsBuild& b = out[i];
    if (take_over != nullptr && taken_as_is(c, *take_over, i, lazy, now,
                                            changed != nullptr ? *changed : kNone)) {
      b.taken = i;
      b.reused = true;
      continue;
    }
    out[i] = build_one(c.tenants[i], plan[i], lazy, loader, now);
  }
  return out;
}

void isolate(config::Config& cfg, TenantTlsBuilds& tls, std::vector<config::Diagnostic> errors,
             const Snapshot* previous, std::int64_t now,
             std::vector<config::QuarantinedTenant>& stale) {
  std::unordered_map<std::string_view, bool> has_error;
  for (const auto& d : errors) {
    has_error.emplace(d.pos.file, true);
  }
  for (std::size_t i = 0; i < cfg.tenants.size(); ++i) {
    const config::TenantConfig& t = std::as_const(cfg.tenants)[i];
    // The analyzers found nothing to say about a context that could not be built.
    if (!tls[i].built() && has_error.count(t.file) == 0) {
      errors.push_back(error_at(t.pos_cert, "tenant " + t.name + ": " + tls[i].error()));
    }
  }
  if (errors.empty() && cfg.quarantined.empty()) {
    return;
  }
  const std::vector<std::size_t> kept = config::quarantine_tenants(cfg, errors);
  if (kept.size() != tls.size()) {
    TenantTlsBuilds stay;
    stay.reserve(kept.size());
    for (const std::size_t i : kept) {
      stay.push_back(std::move(tls[i]));
    }
    tls = std::move(stay);
  }
  if (previous == nullptr) {
    return;
  }
  std::unordered_map<std::string_view, std::size_t> serving;  // by file: its index
  for (std::size_t j = 0; j < previous->tenants.size(); ++j) {
    serving.emplace(previous->tenants[j].cfg->file, j);
  }
  std::unordered_map<std::string_view, const std::vector<std::string>*> quarantined_hosts;
  for (const auto& q : previous->config.quarantined) {
    quarantined_hosts.emplace(q.file, &q.hosts);
  }
  std::unordered_map<std::string_view, bool> taken;  // names and hosts of the new generation
  for (const auto& t : std::as_const(cfg.tenants)) {
    taken.emplace(t.name, true);
    for (const auto& h : t.hosts) {
      taken.emplace(h, true);
    }
  }
  std::vector<config::QuarantinedTenant> still;
  std::vector<std::pair<std::shared_ptr<const config::TenantConfig>, TenantTlsBuild>> revived;
  for (auto& q : cfg.quarantined) {
    const auto it = serving.find(q.file);
    const TenantRuntime* old = it == serving.end() ? nullptr : &previous->tenants[it->second];
    bool keep = old != nullptr &&
                ((old->server_ctx && old->tls_source.chain_not_after > now) ||
                 (old->lazy && old->lazy->state() != tls::LazyContext::State::failed)) &&
                taken.count(old->cfg->name) == 0;
    for (std::size_t h = 0; keep && h < old->cfg->hosts.size(); ++h) {
      keep = taken.count(old->cfg->hosts[h]) == 0;
    }
    if (keep) {
      TenantTlsBuild b;
      if (old->server_ctx) {
        SSL_CTX_up_ref(old->server_ctx.get());
        b.ctx.reset(old->server_ctx.get());
      }
      b.lazy = old->lazy;
      b.source() = old->tls_source;
      b.reused = true;
      revived.emplace_back(previous->config.tenants.shared(it->second), std::move(b));
      q.name = old->cfg->name;
      q.hosts = old->cfg->hosts;
      stale.push_back(std::move(q));
      continue;
    }
    if (q.hosts.empty()) {
      if (old != nullptr) {
        q.hosts = old->cfg->hosts;
      } else if (const auto qh = quarantined_hosts.find(q.file); qh != quarantined_hosts.end()) {
        q.hosts = *qh->second;
      }
    }
    still.push_back(std::move(q));
  }
  cfg.quarantined = std::move(still);
  if (revived.empty()) {
    return;
  }
  // Back into the tenants, which stay sorted by name (their index is their identity).
  for (auto& [t, b] : revived) {
    cfg.tenants.push_shared(std::move(t));
    tls.push_back(std::move(b));
  }
  const auto& tenants_now = std::as_const(cfg.tenants);
  std::vector<std::size_t> order(cfg.tenants.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return tenants_now[a].name < tenants_now[b].name;
  });
  config::CowVector<config::TenantConfig> tenants;
  TenantTlsBuilds builds;
  tenants.reserve(order.size());
  builds.reserve(order.size());
  for (const std::size_t i : order) {
    tenants.push_shared(tenants_now.shared(i));
    builds.push_back(std::move(tls[i]));
  }
  cfg.tenants = std::move(tenants);
  tls = std::move(builds);
}

}  // namespace portcullis::gateway::runtime::detail
