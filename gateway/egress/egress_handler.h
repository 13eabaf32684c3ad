// Egress: one request from a mesh workload to an external destination.
//
// Order of checks, each refusal with its own reason in the audit log and metrics:
//   policy (destination listed? source identity allowed? IP literal?)      -> 403
//   resolution (our own, non-blocking)                                      -> 502
//   address class (loopback, link-local/metadata, private... unless allowed) -> 403
//   TLS origination (entry roots, host name, expiry, version, key, pins)    -> 502
// The connection goes to exactly the address that was checked: no second lookup, no DNS
// rebinding window. No request byte is written before every TLS check passed.
#pragma once

#include <string>

#include "gateway/http/exchange.h"
#include "gateway/snapshot/snapshot.h"
#include "gateway/upstream/worker_context.h"

namespace portcullis::gateway::egress {

void handle_egress(upstream::WorkerContext& worker, const runtime::SnapshotPtr& snap,
                   const std::string& source_identity, http::Exchange& ex);

}  // namespace portcullis::gateway::egress
