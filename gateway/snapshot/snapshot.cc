#include "gateway/snapshot/snapshot.h"

#include <algorithm>
#include <filesystem>
#include <ctime>
#include <string_view>
#include <unordered_map>

#include "certs/pem.h"
#include "gateway/config/analyze.h"
#include "gateway/config/tenant_reload.h"
#include "gateway/snapshot/generation_parts.h"
#include "gateway/snapshot/tenant_replace.h"
#include "gateway/snapshot/tenant_tls.h"
#include "tls/context.h"

namespace portcullis::gateway::runtime {
namespace {

bool same_time(const timespec& a, const timespec& b) noexcept {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

using detail::error_at;
using detail::TenantTlsBuild;
using detail::TenantTlsBuilds;

// `take_over` (per-tenant reload; gateway.toml and the mesh files unchanged): its mesh
// contexts, and the runtime of every tenant whose configuration object and context it shares,
// are taken over instead of built again; its SNI names too, while tenant indexes stay.
BuildResult build(config::Config cfg, std::uint64_t generation, upstream::HealthRegistry* health,
                  const tls::TicketKeyStore* tickets, TenantTlsBuilds tenant_tls,
                  std::vector<config::QuarantinedTenant> stale = {},
                  const Snapshot* take_over = nullptr);

using detail::share;

// True when `previous`'s SNI names can be kept: the same tenant (by name) at every index, the
// same quarantined tenants with the same names.
bool same_indexes(const config::Config& c, const Snapshot& previous) {
  const config::Config& p = previous.config;
  if (p.tenants.size() != c.tenants.size() || p.quarantined.size() != c.quarantined.size()) {
    return false;
  }
  for (std::size_t i = 0; i < c.tenants.size(); ++i) {
    if (!c.tenants.same(i, &p.tenants[i]) && c.tenants[i].name != p.tenants[i].name) {
      return false;
    }
  }
  for (std::size_t i = 0; i < c.quarantined.size(); ++i) {
    if (c.quarantined[i].file != p.quarantined[i].file ||
        c.quarantined[i].hosts != p.quarantined[i].hosts) {
      return false;
    }
  }
  return true;
}

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

config::FileIdentity FileStamp::identity() const noexcept {
  config::FileIdentity id;
  if (ok) {
    id.dev = static_cast<std::uint64_t>(dev);
    id.ino = static_cast<std::uint64_t>(ino);
    id.size = static_cast<std::uint64_t>(size);
    id.mtime_ns = mtime.tv_sec * 1000000000LL + mtime.tv_nsec;
    id.ctime_ns = ctime.tv_sec * 1000000000LL + ctime.tv_nsec;
  }
  return id;
}

bool FileStamp::same(const FileStamp& o) const noexcept {
  return ok && o.ok && dev == o.dev && ino == o.ino && size == o.size &&
         same_time(mtime, o.mtime) && same_time(ctime, o.ctime);
}

std::shared_ptr<const Snapshot::FileOwners> Snapshot::file_owners() const {
  std::lock_guard lock{owners_mu_};
  if (!owners_) {
    auto made = std::make_shared<FileOwners>();
    for (std::size_t i = 0; i < config.tenants.size(); ++i) {
      const config::TenantConfig& t = config.tenants[i];
      for (const std::string* f : {&t.cert, &t.key, &t.client_ca}) {
        if (!f->empty()) {
          (*made)[*f].push_back(static_cast<std::uint32_t>(i));
        }
      }
    }
    owners_ = std::move(made);
  }
  return owners_;
}

void Snapshot::share_file_owners(const Snapshot& from) const {
  std::shared_ptr<const FileOwners> theirs;
  {
    std::lock_guard lock{from.owners_mu_};
    theirs = from.owners_;
  }
  std::lock_guard lock{owners_mu_};
  owners_ = std::move(theirs);
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
  TenantTlsBuilds tenant_tls =
      detail::build_tenant_tls(cfg, detail::plan_reuse(cfg, previous, now), now);
  return build(std::move(cfg), generation, health, tickets, std::move(tenant_tls));
}

namespace {

BuildResult build(config::Config cfg, std::uint64_t generation, upstream::HealthRegistry* health,
                  const tls::TicketKeyStore* tickets, TenantTlsBuilds tenant_tls,
                  std::vector<config::QuarantinedTenant> stale, const Snapshot* take_over) {
  auto snap = std::make_shared<Snapshot>();
  snap->generation = generation;
  snap->stale = std::move(stale);
  snap->config = std::move(cfg);
  const config::Config& c = snap->config;
  BuildResult result;
  auto& errors = result.errors;

  // Per tenant: the previous runtime to take over as it is (same configuration object, same
  // context), or null to build.
  std::vector<const TenantRuntime*> kept(c.tenants.size(), nullptr);
  if (take_over != nullptr) {
    for (std::size_t ti = 0; ti < c.tenants.size(); ++ti) {
      TenantTlsBuild& b = tenant_tls[ti];
      if (b.taken != TenantTlsBuild::kNotTaken) {
        if (c.tenants.same(ti, &take_over->config.tenants[b.taken])) {
          kept[ti] = &take_over->tenants[b.taken];  // not looked into: a pointer to its slot
          continue;
        }
        // Not the object it was marked for (a build moves with its tenant, so this should not
        // happen): take the context over the long way.
        const TenantRuntime& old = take_over->tenants[b.taken];
        b.from = take_over->tenants.shared(b.taken);
        b.ctx = share(old.server_ctx);
        b.lazy = old.lazy;
        b.source() = old.tls_source;
        b.taken = TenantTlsBuild::kNotTaken;
      }
      if (b.reused && b.from && c.tenants.same(ti, b.from->cfg)) {
        kept[ti] = b.from.get();
      }
    }
  }
  // The mesh client contexts: our workload certificate, the mesh bundle as the only roots.
  bool need_mesh = false;
  for (std::size_t ti = 0; ti < c.tenants.size(); ++ti) {
    if (kept[ti] != nullptr) {
      continue;  // built against take_over's mesh contexts, which are kept below
    }
    for (const auto& cl : c.tenants[ti].clusters) {
      need_mesh = need_mesh || !cl.plaintext;
    }
  }
  if (take_over != nullptr && (take_over->mesh_h2 || take_over->mesh_h1)) {
    // The same files (a per-tenant reload never sees [mesh] change): the same contexts, so
    // the clusters of taken-over tenants keep pointing at live ones.
    snap->mesh_h2 = share(take_over->mesh_h2);
    snap->mesh_h1 = share(take_over->mesh_h1);
    snap->gateway_identity = take_over->gateway_identity;
    if (!take_over->certs.empty() && take_over->certs[0].name == "mesh") {
      snap->certs.push_shared(take_over->certs.shared(0));  // the mesh fact comes first
    }
  } else if (need_mesh || !c.mesh.cert.empty()) {
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

  // SNI: keep take_over's names while every tenant keeps its index, and change only those of
  // the tenants read again (all removed first: one may take a name another gave up).
  const bool same_sni = take_over != nullptr && same_indexes(c, *take_over);
  if (same_sni) {
    snap->sni = take_over->sni.with_same_hosts();
    for (std::uint32_t ti = 0; ti < c.tenants.size(); ++ti) {
      if (!c.tenants.same(ti, &take_over->config.tenants[ti])) {
        for (const auto& h : take_over->tenants[ti].cfg->hosts) {
          snap->sni.remove_host(h, ti);
        }
      }
    }
  }

  // Whether any tenant of take_over has a certificate fact (with contexts on demand none has):
  // if not, a taken-over runtime is not looked into for one.
  const bool tenant_facts =
      take_over != nullptr &&
      take_over->certs.size() >
          (!take_over->certs.empty() && take_over->certs[0].name == "mesh" ? 1u : 0u);
  snap->tenants.reserve(c.tenants.size());
  for (std::uint32_t ti = 0; ti < c.tenants.size(); ++ti) {
    const config::TenantConfig& t = c.tenants[ti];
    TenantTlsBuild& b = tenant_tls[ti];
    if (const TenantRuntime* old = kept[ti]; old != nullptr) {
      const bool taken = b.taken != TenantTlsBuild::kNotTaken;
      snap->tenants.push_shared(taken ? take_over->tenants.shared(b.taken) : b.from);
      ++result.tenants_reused;
      if (tenant_facts && old->cert_fact) {
        snap->certs.push_shared(old->cert_fact);
      }
      if (taken) {
        // Its entry in take_over's table holds the same context, version and on-demand
        // context (the same configuration): copied, at this index.
        tls::TenantTls e = *take_over->sni.tenant(static_cast<std::uint32_t>(b.taken));
        e.tenant = ti;
        snap->sni.add_tenant(e);
      } else {
        snap->sni.add_tenant(tls::TenantTls{old->server_ctx.get(),
                                            tls::parse_min_version(t.min_tls), ti, false,
                                            old->lazy.get()});
      }
      if (!same_sni) {
        for (const auto& h : t.hosts) {
          if (!snap->sni.add_host(h, ti)) {
            errors.push_back(error_at(t.pos_cert, "host " + h + " of tenant " + t.name +
                                                      " is already used by another tenant"));
          }
        }
      }
      continue;
    }
    const int min_version = tls::parse_min_version(t.min_tls);
    TenantRuntime& rt = snap->tenants.emplace_back();
    rt.cfg = &t;
    if (!b.ctx && !b.lazy) {
      errors.push_back(error_at(t.pos_cert, "tenant " + t.name + ": " + b.error()));
      continue;
    }
    rt.server_ctx = std::move(b.ctx);
    rt.lazy = std::move(b.lazy);
    rt.tls_source = std::move(b.source());
    ++(b.reused ? result.tenants_reused : result.tenants_built);
    if (!rt.tls_source.leaf_sha256.empty()) {
      rt.cert_fact = std::make_shared<const CertFact>(CertFact{
          "tenant:" + t.name, t.cert, rt.tls_source.leaf_sha256, rt.tls_source.leaf_not_after});
      snap->certs.push_shared(rt.cert_fact);
    }
    snap->sni.add_tenant(
        tls::TenantTls{rt.server_ctx.get(), min_version, ti, false, rt.lazy.get()});
    for (const auto& h : t.hosts) {
      // Kept names (same_sni) of a tenant whose configuration did not change are its own.
      if (!snap->sni.add_host(h, ti) && !(same_sni && snap->sni.owner(h) == ti)) {
        errors.push_back(error_at(t.pos_cert, "host " + h + " of tenant " + t.name +
                                                  " is already used by another tenant"));
      }
    }
    detail::add_paths(rt, t, *snap, health, errors);
  }

  // Quarantined tenants' names stay claimed, so that they are refused with their own reason
  // instead of reaching another tenant's wildcard or the listener's unknown_sni tenant.
  for (std::size_t qi = 0; qi < c.quarantined.size(); ++qi) {
    const auto index = static_cast<std::uint32_t>(c.tenants.size() + qi);
    tls::TenantTls q;
    q.tenant = index;
    q.quarantined = true;
    snap->sni.add_tenant(q);
    for (const auto& h : c.quarantined[qi].hosts) {
      snap->sni.add_host(h, index);  // taken by a serving tenant: that one keeps it
    }
  }

  detail::build_edges(*snap, tickets, errors);

  if (errors.empty()) {
    result.snapshot = std::move(snap);
  }
  return result;
}

}  // namespace

namespace {

// The analyzers judge everything but the tenants, and the tenants whose build cannot vouch
// for them: at 100k tenants, analyzing all of them parsed every certificate and key twice
// (analyzers, then the build), the bulk of start-up. Reused tenants were judged when built.
// Then a tenant's own errors isolate it (tenant_errors = "quarantine") and the rest is built.
BuildResult finish_load(config::Config cfg, TenantTlsBuilds tenant_tls, const Snapshot* previous,
                        std::int64_t now, std::vector<config::QuarantinedTenant> stale,
                        std::uint64_t generation, upstream::HealthRegistry* health,
                        const tls::TicketKeyStore* tickets, const Snapshot* take_over = nullptr) {
  const bool isolating =
      cfg.gateway.tenant_errors == config::GatewaySection::TenantErrors::quarantine;
  config::CowVector<config::TenantConfig> all = std::move(cfg.tenants);
  cfg.tenants.clear();
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (tenant_tls[i].analyze) {
      cfg.tenants.push_shared(all.shared(i));
    }
  }
  std::vector<config::Diagnostic> diagnostics = config::analyze(cfg);
  cfg.tenants = std::move(all);
  BuildResult r;
  std::vector<config::Diagnostic> tenant_errors;
  for (auto& d : diagnostics) {
    if (d.severity != config::Diagnostic::Severity::error) {
      continue;
    }
    if (isolating && config::is_tenant_error(cfg, d)) {
      tenant_errors.push_back(std::move(d));
    } else {
      r.errors.push_back(std::move(d));
    }
  }
  if (!r.errors.empty()) {
    return r;  // gateway.toml or a file it names: the whole configuration is refused
  }
  if (isolating) {
    detail::isolate(cfg, tenant_tls, std::move(tenant_errors), previous, now, stale);
  }
  return build(std::move(cfg), generation, health, tickets, std::move(tenant_tls),
               std::move(stale), take_over);
}

}  // namespace

BuildResult load_snapshot(const std::string& config_path, std::uint64_t generation,
                          upstream::HealthRegistry* health, const tls::TicketKeyStore* tickets,
                          const Snapshot* previous) {
  // The running generation's tenants whose files did not change are its objects (one copy of
  // them in memory, and their files are not parsed again).
  config::LoadResult loaded =
      config::load_isolating(config_path, previous != nullptr ? &previous->config : nullptr);
  if (!loaded.ok()) {
    BuildResult r;
    for (auto& d : loaded.diagnostics) {
      if (d.severity == config::Diagnostic::Severity::error) {
        r.errors.push_back(std::move(d));
      }
    }
    return r;
  }
  config::Config& cfg = *loaded.config;
  config::ensure_acme_placeholders(cfg);  // [tls] acme = true before the first issuance
  const std::int64_t now = unix_now();
  TenantTlsBuilds tenant_tls =
      detail::build_tenant_tls(cfg, detail::plan_reuse(cfg, previous, now), now);
  return finish_load(std::move(cfg), std::move(tenant_tls), previous, now, {}, generation, health,
                     tickets);
}

std::optional<BuildResult> reload_tenants(const Snapshot& previous,
                                          const std::vector<std::string>& changed,
                                          std::uint64_t generation,
                                          upstream::HealthRegistry* health,
                                          const tls::TicketKeyStore* tickets) {
  const config::Config& pc = previous.config;
  if (changed.empty() || pc.gateway.tenants_dir.empty()) {
    return std::nullopt;
  }
  namespace fs = std::filesystem;
  const auto normal = [](const std::string& p) { return fs::path(p).lexically_normal().string(); };
  std::string tdir = normal(pc.gateway.tenants_dir);
  if (!tdir.empty() && tdir.back() == '/') {
    tdir.pop_back();
  }
  // Whose files changed. Certificates, keys and CAs are claimed by the tenants naming them; one
  // that nothing but tenants names is theirs alone (else: gateway.toml's, a full reload).
  // Looked up only when a changed file is not a tenant file; the index is the running
  // generation's (Snapshot::file_owners), made once, not a pass over every tenant per reload.
  // An owner whose own file is still what was read keeps its configuration object and only
  // its context is built again (a wildcard certificate renewed for every tenant: no tenant
  // file is parsed); the others' files are read again.
  std::shared_ptr<const Snapshot::FileOwners> owners;
  detail::FileSet files;
  std::vector<std::string> tenant_files;
  std::vector<std::uint32_t> tls_only;
  for (const auto& raw : changed) {
    const std::string p = normal(raw);
    if (fs::path(p).parent_path() == tdir && fs::path(p).extension() == ".toml") {
      tenant_files.push_back(p);
      files.insert(p);
      continue;
    }
    if (!owners) {
      owners = previous.file_owners();
    }
    const auto it = owners->find(p);
    if (it == owners->end() || p == pc.mesh.ca || p == pc.mesh.cert || p == pc.mesh.key ||
        p == pc.gateway.ticket_keys ||
        std::any_of(pc.egress.begin(), pc.egress.end(),
                    [&](const config::EgressConfig& e) { return e.ca == p; })) {
      return std::nullopt;
    }
    files.insert(p);
    for (const std::uint32_t ti : it->second) {
      const config::TenantConfig& t = pc.tenants[ti];
      if (config::file_unchanged(t) &&
          std::none_of(previous.stale.begin(), previous.stale.end(),
                       [&](const config::QuarantinedTenant& q) { return q.file == t.file; })) {
        tls_only.push_back(ti);
        continue;
      }
      tenant_files.push_back(t.file);
      files.insert(t.file);
    }
  }
  std::sort(tenant_files.begin(), tenant_files.end());
  tenant_files.erase(std::unique(tenant_files.begin(), tenant_files.end()), tenant_files.end());
  // One whose tenant file changed as well is read again, not kept.
  std::sort(tls_only.begin(), tls_only.end());
  tls_only.erase(std::unique(tls_only.begin(), tls_only.end()), tls_only.end());
  tls_only.erase(std::remove_if(tls_only.begin(), tls_only.end(),
                                [&](std::uint32_t ti) { return files.count(pc.tenants[ti].file); }),
                 tls_only.end());
  // The running generation's SNI table says who holds a host: the unchanged tenants are not
  // indexed again to check the new files against them.
  const auto host_owner = [&previous](std::string_view pattern) -> std::optional<std::size_t> {
    const auto owner = previous.sni.owner(pattern);
    return owner ? std::optional<std::size_t>(*owner) : std::nullopt;
  };
  config::LoadResult loaded;
  if (tenant_files.empty()) {
    loaded.config = pc;  // no tenant file to read: the same tenants (chunks shared)
  } else {
    loaded = config::reload_tenant_files(pc, tenant_files, host_owner);
  }
  if (!loaded.ok()) {
    return std::nullopt;
  }
  config::Config& cfg = *loaded.config;
  {
    // A tenant read again with [tls] acme = true (added, or its files gone): only those. The
    // others are the running generation's objects, whose placeholders were made when read.
    config::Config read_again;
    read_again.acme = cfg.acme;
    const bool aligned = cfg.tenants.size() == pc.tenants.size();
    for (std::size_t i = 0; i < cfg.tenants.size();) {
      if (const std::size_t run = aligned ? cfg.tenants.same_run(i, pc.tenants) : 0; run > 0) {
        i += run;  // shared with the running generation: not read again
        continue;
      }
      read_again.tenants.push_shared(cfg.tenants.shared(i++));
    }
    config::ensure_acme_placeholders(read_again);
  }
  if (auto replaced =
          detail::replace_in_place(previous, cfg, files, tls_only, generation, health, tickets)) {
    replaced->tenant_files_read = tenant_files.size();
    return replaced;  // the usual case: only the tenants read again are built
  }
  const std::int64_t now = unix_now();
  TenantTlsBuilds tenant_tls = detail::build_tenant_tls(
      cfg, detail::plan_reuse(cfg, &previous, now, &files), now, &previous, &files);
  // Tenants still at their previous version whose files did not change stay so.
  std::vector<config::QuarantinedTenant> stale;
  for (const auto& q : previous.stale) {
    if (files.count(q.file) == 0) {
      stale.push_back(q);
    }
  }
  BuildResult r = finish_load(std::move(cfg), std::move(tenant_tls), &previous, now,
                              std::move(stale), generation, health, tickets, &previous);
  r.partial = true;
  r.tenant_files_read = tenant_files.size();
  return r;
}


}  // namespace portcullis::gateway::runtime
