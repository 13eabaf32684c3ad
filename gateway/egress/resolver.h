// Resolver: non-blocking name resolution for egress destinations, a thin forwarder to
// gateway/dns/ (c-ares on the worker loop: retransmission, TCP fallback, several servers, a TTL
// cache; see gateway/dns/resolver.h).
//
// `server` is [gateway].resolver: "" for the system's servers (/etc/resolv.conf), else one
// "ip:port" or a comma-separated list tried in order. The name is resolved exactly as written
// (no search domain, no hosts file): the egress policy matched that name, so no other name may
// stand in for it. The address checks (private ranges, rebinding) stay with the caller
// (destination.cc) and run on every answer, cached or not.
// Thread:   one worker loop. A Lookup is freed by the resolver after its callback ran (or, when
//           cancelled, after its query ended); cancel() only stops the callback from running.
#pragma once

#include <string>

#include <uv.h>

#include "gateway/dns/resolver.h"

namespace portcullis::gateway::egress {

using Lookup = dns::Lookup;

// Starts a lookup of `name`. The callback runs at most once, never synchronously.
Lookup* resolve(uv_loop_t* loop, const std::string& server, const std::string& name,
                Lookup::Callback cb);

}  // namespace portcullis::gateway::egress
