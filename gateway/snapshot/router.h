// Router: where one ingress request goes, decided from the snapshot alone (no I/O, no
// connection): the tenant the TLS handshake chose, the request's authority and path -> a
// cluster to forward to, or a local reply (421 host of another tenant, 404 no route, a
// configured direct_response).
// Thread: pure; the snapshot is read-only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/http/local_reply.h"
#include "gateway/snapshot/snapshot.h"

namespace portcullis::gateway::runtime {

struct RouteInput {
  std::uint32_t tenant = 0;         // index into Snapshot::tenants (chosen by SNI)
  bool tenant_by_fallback = false;  // SNI named no tenant: this tenant takes any unknown host
  std::string_view authority;       // Host / :authority as the client sent it
  std::string_view path;
  std::string_view client_identity;  // for {client_identity}; empty: "anonymous"
  std::string_view upgrade;          // "websocket" for a WebSocket handshake, else ""
};

struct RouteResult {
  const ClusterRuntime* cluster = nullptr;  // forward here; null: answer `reply`
  http::LocalReply reply;
  std::string route;  // the matched route (path or prefix) for the access log; "" when none
};

RouteResult route_request(const Snapshot& snap, const RouteInput& in);

}  // namespace portcullis::gateway::runtime
