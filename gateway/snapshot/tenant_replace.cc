#include "gateway/snapshot/tenant_replace.h"

#include <algorithm>
#include <ctime>
#include <memory>
#include <utility>

#include "gateway/snapshot/generation_parts.h"
#include "tls/context.h"

namespace portcullis::gateway::runtime::detail {
namespace {

// More tenants changed at once than this: the long way (one pass over all) costs no more.
constexpr std::size_t kMaxSlots = 64;

// The indexes at which `now` holds another object than `was` (same size): a pointer compared
// per chunk both share, an element each in the chunks written to. With `tls_only`, in order.
std::optional<std::vector<std::uint32_t>> replaced_slots(
    const config::CowVector<config::TenantConfig>& now,
    const config::CowVector<config::TenantConfig>& was,
    const std::vector<std::uint32_t>& tls_only) {
  if (tls_only.size() > kMaxSlots) {
    return std::nullopt;
  }
  std::vector<std::uint32_t> out = tls_only;
  for (std::size_t i = 0; i < now.size();) {
    if (const std::size_t run = now.same_run(i, was); run > 0) {
      i += run;
      continue;
    }
    out.push_back(static_cast<std::uint32_t>(i++));
    if (out.size() > kMaxSlots) {
      return std::nullopt;
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

std::optional<BuildResult> replace_in_place(const Snapshot& previous, config::Config& cfg,
                                            const FileSet& files,
                                            const std::vector<std::uint32_t>& tls_only,
                                            std::uint64_t generation,
                                            upstream::HealthRegistry* health,
                                            const tls::TicketKeyStore* tickets) {
  const config::Config& pc = previous.config;
  if (cfg.tenants.size() != pc.tenants.size() || previous.tenants.size() != pc.tenants.size() ||
      cfg.quarantined.size() != pc.quarantined.size()) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < cfg.quarantined.size(); ++i) {
    if (cfg.quarantined[i].file != pc.quarantined[i].file ||
        cfg.quarantined[i].hosts != pc.quarantined[i].hosts) {
      return std::nullopt;
    }
  }
  for (const auto& q : previous.stale) {
    if (files.count(q.file) != 0) {
      return std::nullopt;  // a tenant at its previous version read again: isolate() judges it
    }
  }
  const auto slots = replaced_slots(cfg.tenants, pc.tenants, tls_only);
  if (!slots || slots->empty()) {
    return std::nullopt;
  }
  const auto& tenants = std::as_const(cfg.tenants);
  for (const std::uint32_t ti : *slots) {
    const config::TenantConfig& t = tenants[ti];
    if (t.name != pc.tenants[ti].name || t.file != pc.tenants[ti].file) {
      return std::nullopt;
    }
    // The names it takes are free or its own (reload_tenant_files checked them against the
    // unchanged tenants; this keeps the table consistent should that ever differ).
    for (const auto& h : t.hosts) {
      const auto owner = previous.sni.owner(h);
      if (owner && *owner != ti &&
          std::find(slots->begin(), slots->end(), *owner) == slots->end()) {
        return std::nullopt;
      }
    }
  }
  // Certificate facts: none for tenants (contexts on demand), or one per tenant after the mesh's.
  const std::size_t mesh_facts =
      !previous.certs.empty() && previous.certs[0].name == "mesh" ? 1 : 0;
  const bool facts = previous.certs.size() > mesh_facts;
  if (facts && previous.certs.size() != mesh_facts + pc.tenants.size()) {
    return std::nullopt;
  }

  const bool lazy = tenants_on_demand(cfg);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  tls::ContextLoader loader;
  std::vector<TenantTlsBuild> builds;
  builds.reserve(slots->size());
  for (const std::uint32_t ti : *slots) {
    const config::TenantConfig& t = tenants[ti];
    std::shared_ptr<const TenantRuntime> reuse;
    if (reusable(t, previous.tenants[ti], now, &files)) {
      reuse = previous.tenants.shared(ti);
    }
    TenantTlsBuild b = build_one(t, reuse, lazy, loader, now);
    if (b.analyze || !b.built() || (facts && !lazy && b.source().leaf_sha256.empty())) {
      return std::nullopt;  // the analyzers must judge it, or it failed: the long way
    }
    builds.push_back(std::move(b));
  }

  auto snap = std::make_shared<Snapshot>();
  snap->generation = generation;
  snap->config = std::move(cfg);
  snap->tenants = previous.tenants;  // chunks shared: a pointer per 1024 tenants
  snap->sni = previous.sni;
  snap->certs = previous.certs;
  snap->stale = previous.stale;
  snap->mesh_h2 = share(previous.mesh_h2);  // the same [mesh] files: the same contexts
  snap->mesh_h1 = share(previous.mesh_h1);
  snap->gateway_identity = previous.gateway_identity;
  const config::Config& c = snap->config;
  BuildResult result;
  result.partial = true;
  result.in_place = true;
  result.tenants_reused = c.tenants.size() - slots->size();
  for (const std::uint32_t ti : *slots) {  // all removed first: one may take a name another gave up
    for (const auto& h : previous.tenants[ti].cfg->hosts) {
      snap->sni.remove_host(h, ti);
    }
  }
  for (std::size_t k = 0; k < slots->size(); ++k) {
    const std::uint32_t ti = (*slots)[k];
    const config::TenantConfig& t = c.tenants[ti];
    TenantTlsBuild& b = builds[k];
    auto rt = std::make_shared<TenantRuntime>();
    rt->cfg = &t;
    rt->server_ctx = std::move(b.ctx);
    rt->lazy = std::move(b.lazy);
    rt->tls_source = std::move(b.source());
    ++(b.reused ? result.tenants_reused : result.tenants_built);
    if (facts && !rt->tls_source.leaf_sha256.empty()) {
      rt->cert_fact = std::make_shared<const CertFact>(CertFact{
          "tenant:" + t.name, t.cert, rt->tls_source.leaf_sha256, rt->tls_source.leaf_not_after});
      snap->certs.set_shared(mesh_facts + ti, rt->cert_fact);
    }
    snap->sni.set_tenant(tls::TenantTls{rt->server_ctx.get(), tls::parse_min_version(t.min_tls),
                                        ti, false, rt->lazy.get()});
    for (const auto& h : t.hosts) {
      if (!snap->sni.add_host(h, ti) && snap->sni.owner(h) != ti) {
        result.errors.push_back(error_at(t.pos_cert, "host " + h + " of tenant " + t.name +
                                                         " is already used by another tenant"));
      }
    }
    add_paths(*rt, t, *snap, health, result.errors);
    snap->tenants.set_shared(ti, std::move(rt));
  }
  build_edges(*snap, tickets, result.errors);
  // Which tenants name which files: the same while the replaced tenants name the same ones.
  bool same_files = true;
  for (const std::uint32_t ti : *slots) {
    const config::TenantConfig& was = *previous.tenants[ti].cfg;
    const config::TenantConfig& t = c.tenants[ti];
    same_files = same_files && was.cert == t.cert && was.key == t.key &&
                 was.client_ca == t.client_ca;
  }
  if (same_files) {
    snap->share_file_owners(previous);
  }
  if (result.errors.empty()) {
    result.snapshot = std::move(snap);
  }
  return result;
}

}  // namespace portcullis::gateway::runtime::detail
