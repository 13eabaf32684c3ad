// Snapshot: one immutable generation of configuration plus everything derived from it (SNI
// table, route tables, SSL_CTXs, resolved listener addresses).
//
// Thread:   built on the main thread, then read by every worker; never changed after publish.
// Lifetime: shared: SnapshotPtr is the one shared type on the request path. A worker holds the
//           newest; each connection pins the one it was accepted under until it closes, so a
//           reload never changes what an open connection sees.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <sys/socket.h>

#include "gateway/config/config.h"
#include "gateway/io/uv.h"
#include "gateway/listen/cidr.h"
#include "gateway/listen/proxy_protocol.h"
#include "gateway/upstream/target.h"
#include "routing/egress_policy.h"
#include "routing/route_table.h"
#include "tls/ptr.h"
#include "tls/sni.h"
#include "tls/tickets.h"

namespace portcullis::gateway::runtime {

struct ClusterRuntime {
  const config::ClusterConfig* cfg = nullptr;
  std::vector<upstream::Endpoint> endpoints;
  upstream::Target target;  // its ctx is owned by the Snapshot (mesh h2 or http/1.1 context)
};

// A certificate the snapshot serves or presents, for /metrics expiry and reload audit.
struct CertFact {
  std::string name;    // "tenant:acme", "mesh"
  std::string file;
  std::string sha256;  // leaf fingerprint
  std::int64_t not_after = 0;
};

struct TenantRuntime {
  const config::TenantConfig* cfg = nullptr;
  tls::SslCtxPtr server_ctx;
  routing::RouteTable routes;            // -> index into cfg->routes
  std::vector<int> route_cluster;        // per route: index into clusters, -1 for direct
  std::vector<ClusterRuntime> clusters;
};

// One [[egress]] entry: its own roots (and only those), minimum version, pins.
struct EgressRuntime {
  const config::EgressConfig* cfg = nullptr;
  tls::SslCtxPtr ctx;
};

struct ListenerRuntime {
  const config::ListenerConfig* cfg = nullptr;
  tls::SslCtxPtr front_ctx;
  tls::SniSelector selector;
  sockaddr_storage addr{};
  std::vector<listen::Cidr> trusted_proxies;
  listen::ProxyHeaderParser proxy_parser{listen::ProxyVersions::any};
};

struct Snapshot {
  std::uint64_t generation = 0;
  config::Config config;
  std::vector<TenantRuntime> tenants;
  tls::SniTable sni;  // host -> tenant; also the Host/:authority check
  std::vector<ListenerRuntime> listeners;
  routing::EgressPolicy egress_policy;
  std::vector<EgressRuntime> egress;  // index = EgressRule::index
  tls::SslCtxPtr mesh_h2;
  tls::SslCtxPtr mesh_h1;
  std::string gateway_identity;  // the URI SAN of [mesh].cert
  std::vector<CertFact> certs;

  const ListenerRuntime* listener(const std::string& name) const noexcept;
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

struct BuildResult {
  SnapshotPtr snapshot;
  std::vector<config::Diagnostic> errors;
};

// Loads every certificate and key, builds every SSL_CTX. Never throws.
// `health` (optional) gives each cluster endpoint its process-wide health record.
// `tickets` (optional): the process-wide ticket keys every listener's front context uses, so
// that sessions resume across workers and reloads.
BuildResult build_snapshot(config::Config cfg, std::uint64_t generation,
                           upstream::HealthRegistry* health = nullptr,
                           const tls::TicketKeyStore* tickets = nullptr);

// load + build, the whole path `run`, `check` and reload share.
BuildResult load_snapshot(const std::string& config_path, std::uint64_t generation,
                          upstream::HealthRegistry* health = nullptr,
                          const tls::TicketKeyStore* tickets = nullptr);

}  // namespace portcullis::gateway::runtime
