// Rate admission: the one place an ingress request meets the worker's rate limits
// (snapshot/rate_limiter.h): the tenant's [rate_limit] and [limits] client_requests_per_second.
// A refused request is answered 429 with Retry-After (reason rate_limited) and counted; the
// start and stop of limiting go to Events once each (audit rate_limit + gauge).
//
// Thread: the worker's loop.
#pragma once

#include "gateway/http/exchange.h"
#include "gateway/http/session.h"
#include "gateway/snapshot/snapshot.h"
#include "gateway/upstream/worker_context.h"

namespace portcullis::gateway::listen {

// True when the request was refused (the 429 is sent).
bool refuse_if_rate_limited(upstream::WorkerContext& worker, const runtime::Snapshot& snap,
                            const runtime::TenantRuntime& tenant, const http::ConnFacts& facts,
                            http::Exchange& ex);

}  // namespace portcullis::gateway::listen
