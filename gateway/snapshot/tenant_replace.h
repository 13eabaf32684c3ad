// A per-tenant reload's usual case: each tenant file read again still holds the tenant it
// held (same name, same file, no error). The next generation is then the running one with
// those tenants' slots replaced: the tenant arrays, the SNI entries and the host names are
// shared with it in chunks (cow_vector.h, tls/sni.h) and only the replaced tenants are built,
// so the cost does not grow with the tenant count (a pointer per 1024 tenants).
// Internal to gateway/snapshot: reload_tenants() tries it first.
//
// Thread: the building thread (main or reload); keeps no state.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "gateway/snapshot/snapshot.h"
#include "gateway/snapshot/tenant_tls.h"

namespace portcullis::gateway::runtime::detail {

// `cfg`: reload_tenant_files()'s configuration (the running one's tenants with some replaced,
// sharing every other element). The snapshot with those slots replaced, or nullopt (cfg left
// as it was) when this is not the usual case: a tenant added, removed, renamed, quarantined,
// stale, needing the analyzers (an expired chain, a client CA, unreadable files), taking a
// host another holds, or more than a few changed at once. `files`: what the watcher named.
// `tls_only`: indexes of tenants whose configuration is the running object but whose
// certificate, key or CA changed (their contexts are built again too).
std::optional<BuildResult> replace_in_place(const Snapshot& previous, config::Config& cfg,
                                            const FileSet& files,
                                            const std::vector<std::uint32_t>& tls_only,
                                            std::uint64_t generation,
                                            upstream::HealthRegistry* health,
                                            const tls::TicketKeyStore* tickets);

}  // namespace portcullis::gateway::runtime::detail
