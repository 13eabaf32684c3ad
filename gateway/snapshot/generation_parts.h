// The pieces of a generation that both a whole build (snapshot.cc) and a per-tenant
// replacement (tenant_replace.cc) make: a tenant's clusters and routes, and the egress entries
// and listeners, whose runtimes point into the snapshot being built.
//
// Thread: the building thread (main or reload). Internal to gateway/snapshot.
#pragma once

#include <vector>

#include "gateway/snapshot/snapshot.h"

namespace portcullis::gateway::runtime::detail {

// Takes over a reference to `ctx` (null stays null): a context both generations use.
tls::SslCtxPtr share(const tls::SslCtxPtr& ctx);

// A tenant's clusters (endpoints with their health records) and routes, against snap's mesh
// contexts.
void add_paths(TenantRuntime& rt, const config::TenantConfig& t, const Snapshot& snap,
               upstream::HealthRegistry* health, std::vector<config::Diagnostic>& errors);
// Egress entries and listeners of snap.config: their contexts, and selectors on snap's SNI.
void build_edges(Snapshot& snap, const tls::TicketKeyStore* tickets,
                 std::vector<config::Diagnostic>& errors);

}  // namespace portcullis::gateway::runtime::detail
