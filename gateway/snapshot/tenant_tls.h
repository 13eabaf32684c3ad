// Tenant TLS contexts of a build: which the running generation lends (reuse), which are built
// from the files, and what a tenant's own errors do (quarantine, or its previous version).
// Internal to gateway/snapshot: snapshot.cc and its per-tenant reload share it.
//
// Thread: the building thread (main or reload); reads files and `previous`, keeps no state.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "gateway/snapshot/snapshot.h"

namespace portcullis::gateway::runtime::detail {

config::Diagnostic error_at(const config::Pos& pos, std::string message);

// Paths a watcher saw change (per-tenant reload).
using FileSet = std::unordered_set<std::string>;

// Per tenant of `c` (by index): the previous generation's runtime whose server context it can
// take over, or nullptr. Same name, same TLS settings, every file stamp unchanged, and nothing
// in the chain expired (an expired chain goes through the analyzer, which refuses it). With
// `changed`, a tenant none of whose files is in it is taken as unchanged without a stat() (one
// whose TenantConfig is the previous one's very object is not even looked up: reload_tenants
// reads the tenants of every changed file again). Matched by index first (O(1) while no tenant
// was added or removed before it), by name otherwise.
using ReusePlan = std::vector<std::shared_ptr<const TenantRuntime>>;
ReusePlan plan_reuse(const config::Config& c, const Snapshot* previous, std::int64_t now,
                     const FileSet* changed = nullptr);

// One tenant's server context, made (or taken over) before the rest of the snapshot, so that
// the analyzers can be pointed at just the tenants that need them.
struct TenantTlsBuild {
  tls::SslCtxPtr ctx;
  std::shared_ptr<tls::LazyContext> lazy;  // instead of ctx: indexed, built on demand
  TenantTlsSource source;
  std::string error;     // why ctx is null
  bool reused = false;
  std::shared_ptr<const TenantRuntime> from;  // when reused: the previous runtime
  bool analyze = false;  // the build cannot vouch for it: the analyzers must judge
};
using TenantTlsBuilds = std::vector<TenantTlsBuild>;

// With more tenants than [limits] max_tenant_contexts (not 0), each tenant is only indexed: its
// files are stat()ed (a missing one is an error here) and it gets a LazyContext, built at its
// first handshake; the analyzers are not run on it.
bool tenants_on_demand(const config::Config& c) noexcept;
TenantTlsBuilds build_tenant_tls(const config::Config& c, const ReusePlan& plan, std::int64_t now);

// Moves the tenants with an analyzer error (`errors`), or whose context could not be built,
// out of `cfg` (and their builds out of `tls`) into cfg.quarantined. On a reload, one that
// served in `previous` with a chain not yet expired, and whose name and hosts nobody took
// since, keeps that version (listed in `stale`); the others that could not be read keep the
// hosts they had, so those are still refused by name.
void isolate(config::Config& cfg, TenantTlsBuilds& tls, std::vector<config::Diagnostic> errors,
             const Snapshot* previous, std::int64_t now,
             std::vector<config::QuarantinedTenant>& stale);

}  // namespace portcullis::gateway::runtime::detail
