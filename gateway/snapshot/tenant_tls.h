// Tenant TLS contexts of a build: which the running generation lends (reuse), which are built
// from the files, and what a tenant's own errors do (quarantine, or its previous version).
// Internal to gateway/snapshot: snapshot.cc and its per-tenant reload share it.
//
// Thread: the building thread (main or reload); reads files and `previous`, keeps no state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "gateway/snapshot/snapshot.h"

namespace portcullis::tls {
class ContextLoader;
}

namespace portcullis::gateway::runtime::detail {

config::Diagnostic error_at(const config::Pos& pos, std::string message);

// Paths a watcher saw change (per-tenant reload).
using FileSet = std::unordered_set<std::string>;

// Per tenant of `c` (by index): the previous generation's runtime whose server context it can
// take over, or nullptr. Same name, same TLS settings, every file stamp unchanged, and nothing
// in the chain expired (an expired chain goes through the analyzer, which refuses it). With
// `changed`, a tenant none of whose files is in it is taken as unchanged without a stat() (one
// whose TenantConfig is the previous one's very object is not even looked up unless it names a
// changed certificate, key or CA). Matched by index first (O(1) while no tenant
// was added or removed before it), by name otherwise.
using ReusePlan = std::vector<std::shared_ptr<const TenantRuntime>>;
ReusePlan plan_reuse(const config::Config& c, const Snapshot* previous, std::int64_t now,
                     const FileSet* changed = nullptr);

// One tenant's server context, made (or taken over) before the rest of the snapshot, so that
// the analyzers can be pointed at just the tenants that need them.
struct TenantTlsBuild {
  tls::SslCtxPtr ctx;
  std::shared_ptr<tls::LazyContext> lazy;  // instead of ctx: indexed, built on demand
  // The files' stamps and what the build found, and why ctx is null: on the heap, made at the
  // first use, so that a build whose tenants are mostly taken over is a small array (at 100k
  // tenants, the 33 MB one cost 0.2 s of page faults per reload).
  TenantTlsSource& source() { return extra().source; }
  std::string& error() { return extra().error; }
  std::shared_ptr<const TenantRuntime> from;  // when reused: the previous runtime
  bool reused = false;
  bool analyze = false;  // the build cannot vouch for it: the analyzers must judge
  // Per-tenant reload: the index in the running generation of this tenant's runtime, taken
  // over as it is (the same TenantConfig object, so the same files); ctx, lazy, source and
  // from stay empty and the runtime is read there. kNotTaken otherwise.
  static constexpr std::size_t kNotTaken = static_cast<std::size_t>(-1);
  std::size_t taken = kNotTaken;
  bool built() const noexcept { return ctx || lazy || taken != kNotTaken; }

 private:
  struct Extra {
    TenantTlsSource source;
    std::string error;
  };
  Extra& extra() {
    if (!extra_) {
      extra_ = std::make_unique<Extra>();
    }
    return *extra_;
  }
  std::unique_ptr<Extra> extra_;
};
using TenantTlsBuilds = std::vector<TenantTlsBuild>;

// Whether tenant `i` of `c` is the running generation's tenant `i` as it is: the very same
// TenantConfig object (none of its files changed), with a context (or an on-demand one) whose
// chain has not expired. Reads only the two pointer arrays and the SNI entry, except for an
// eager tenant's expiry: at 100k tenants, looking into every runtime was most of a reload.
// A certificate, key or CA in `changed` that the tenant names: not taken (the same object whose
// TLS files changed: reload_tenants does not read a tenant file that did not change).
bool taken_as_is(const config::Config& c, const Snapshot& previous, std::size_t i, bool lazy,
                 std::int64_t now, const FileSet& changed) noexcept;

// Whether `old` (the running generation's runtime of a tenant with t's name) can lend t its
// context: plan_reuse()'s test for one tenant.
bool reusable(const config::TenantConfig& t, const TenantRuntime& old, std::int64_t now,
              const FileSet* changed);

// One tenant's context: `reuse`'s (see reusable()), or built from the files (on demand: only
// stat()ed and indexed).
TenantTlsBuild build_one(const config::TenantConfig& t,
                         const std::shared_ptr<const TenantRuntime>& reuse, bool lazy,
                         tls::ContextLoader& loader, std::int64_t now);

// With more tenants than [limits] max_tenant_contexts (not 0), each tenant is only indexed: its
// files are stat()ed (a missing one is an error here) and it gets a LazyContext, built at its
// first handshake; the analyzers are not run on it.
bool tenants_on_demand(const config::Config& c) noexcept;
// `take_over` (per-tenant reload): the tenants taken_as_is() from it are only marked (taken).
TenantTlsBuilds build_tenant_tls(const config::Config& c, const ReusePlan& plan, std::int64_t now,
                                 const Snapshot* take_over = nullptr,
                                 const FileSet* changed = nullptr);

// Moves the tenants with an analyzer error (`errors`), or whose context could not be built,
// out of `cfg` (and their builds out of `tls`) into cfg.quarantined. On a reload, one that
// served in `previous` with a chain not yet expired, and whose name and hosts nobody took
// since, keeps that version (listed in `stale`); the others that could not be read keep the
// hosts they had, so those are still refused by name.
void isolate(config::Config& cfg, TenantTlsBuilds& tls, std::vector<config::Diagnostic> errors,
             const Snapshot* previous, std::int64_t now,
             std::vector<config::QuarantinedTenant>& stale);

}  // namespace portcullis::gateway::runtime::detail
