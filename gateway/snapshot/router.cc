#include "gateway/snapshot/router.h"

#include <stdexcept>

#include "routing/authority.h"

namespace portcullis::gateway::runtime {

RouteResult route_request(const Snapshot& snap, const RouteInput& in) {
  RouteResult r;
  if (in.tenant >= snap.tenants.size()) {
    throw std::out_of_range("route_request: tenant index");  // as std::vector::at did
  }
  const TenantRuntime& tenant = snap.tenants[in.tenant];
  // A host another tenant serves, or (on a connection that named its tenant by SNI) a host
  // nobody serves, is not ours to answer: 421 lets the client retry on the right connection.
  const auto a = routing::split_authority(in.authority);
  const std::string host = a ? routing::normalize_host(a->host) : std::string();
  const tls::TenantTls* owner = host.empty() ? nullptr : snap.sni.find(host);
  if ((owner != nullptr && owner->tenant != in.tenant) ||
      (owner == nullptr && !in.tenant_by_fallback)) {
    r.reply = http::misdirected_reply();
    return r;
  }
  const auto route_index = tenant.routes.match(in.path);
  if (!route_index) {
    r.reply = http::no_route_reply();
    return r;
  }
  const config::RouteConfig& rc = tenant.cfg->routes[*route_index];
  r.route = rc.prefix ? rc.path_prefix : rc.path;
  if (!in.upgrade.empty() && !rc.websocket) {
    r.reply = http::LocalReply{403, Reason::upgrade_refused, "websocket not allowed on this route"};
    return r;
  }
  if (rc.direct_response) {
    r.reply = http::direct_reply(rc.status, *rc.direct_response,
                                 in.client_identity.empty() ? "anonymous" : in.client_identity,
                                 tenant.cfg->name);
    return r;
  }
  const int ci = *route_index < tenant.route_cluster.size() ? tenant.route_cluster[*route_index]
                                                            : -1;
  if (ci < 0 || static_cast<std::size_t>(ci) >= tenant.clusters.size()) {
    r.reply = http::no_route_reply();
    return r;
  }
  const ClusterRuntime& cluster = tenant.clusters[static_cast<std::size_t>(ci)];
  // The relay speaks the HTTP/1.1 handshake upstream; an HTTP/2 cluster would get a request
  // with connection-specific headers it must refuse, so say so here instead.
  if (!in.upgrade.empty() && cluster.cfg->protocol == config::ClusterConfig::Protocol::h2) {
    r.reply = http::LocalReply{501, Reason::upgrade_refused,
                               "websocket to an HTTP/2 cluster is not supported"};
    return r;
  }
  r.cluster = &cluster;
  return r;
}

}  // namespace portcullis::gateway::runtime
