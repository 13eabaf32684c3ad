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
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <sys/socket.h>
#include <sys/stat.h>

#include "gateway/config/config.h"
#include "gateway/io/uv.h"
#include "gateway/snapshot/cidr.h"
#include "gateway/snapshot/proxy_protocol.h"
#include "gateway/snapshot/target.h"
#include "routing/egress_policy.h"
#include "routing/route_table.h"
#include "tls/lazy_context.h"
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

// What stat() says about a file: a rewrite, a rename over it, a touch or a chmod changes it.
struct FileStamp {
  bool ok = false;  // false: missing or unreadable (never equal to another stamp)
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  timespec mtime{};
  timespec ctime{};
  static FileStamp of(const std::string& path) noexcept;  // "" gives a stamp equal to ""'s
  bool same(const FileStamp& o) const noexcept;
  config::FileIdentity identity() const noexcept;  // all zero when !ok
};

// The files a tenant's server context was built from, stamped before they were read, and what
// the build found in them. A reload reuses the context while every stamp is unchanged.
struct TenantTlsSource {
  FileStamp cert, key, client_ca;
  std::string leaf_sha256;
  std::int64_t leaf_not_after = 0;
  std::int64_t chain_not_after = 0;  // earliest notAfter in the chain file
};

// Shared between generations while the tenant's configuration (the same TenantConfig object)
// and its context are unchanged: a per-tenant reload takes every other tenant over as it is.
struct TenantRuntime {
  const config::TenantConfig* cfg = nullptr;  // into the (shared) config.tenants element
  tls::SslCtxPtr server_ctx;  // may be shared (up-ref'd) with the previous generation
  // Instead of server_ctx when there are more tenants than [limits] max_tenant_contexts: built
  // at the first handshake; shared with the previous generation while the files are unchanged.
  std::shared_ptr<tls::LazyContext> lazy;
  TenantTlsSource tls_source;
  std::shared_ptr<const CertFact> cert_fact;  // also in Snapshot::certs; null without a leaf
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
  config::CowVector<TenantRuntime> tenants;  // index = config.tenants index
  tls::SniTable sni;  // host -> tenant; also the Host/:authority check
  std::vector<ListenerRuntime> listeners;
  routing::EgressPolicy egress_policy;
  std::vector<EgressRuntime> egress;  // index = EgressRule::index
  tls::SslCtxPtr mesh_h2;
  tls::SslCtxPtr mesh_h1;
  std::string gateway_identity;  // the URI SAN of [mesh].cert
  config::CowVector<CertFact> certs;  // tenants' in tenant order, shared with their runtimes
  // Tenants whose new files have errors but whose previous version (configuration and context,
  // still valid) keeps serving: in `tenants` too. Quarantined ones are config.quarantined.
  std::vector<config::QuarantinedTenant> stale;

  const ListenerRuntime* listener(const std::string& name) const noexcept;

  // Certificate, key and client CA path -> the indexes of the tenants naming it: which tenants
  // a changed file belongs to. Made at the first per-tenant reload that needs it (a pass over
  // every tenant), then handed on by in-place reloads that leave those paths as they were.
  using FileOwners = std::unordered_map<std::string, std::vector<std::uint32_t>>;
  std::shared_ptr<const FileOwners> file_owners() const;
  void share_file_owners(const Snapshot& from) const;

 private:
  mutable std::mutex owners_mu_;  // reloads run one at a time; this keeps the rule local
  mutable std::shared_ptr<const FileOwners> owners_;
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

struct BuildResult {
  SnapshotPtr snapshot;
  std::vector<config::Diagnostic> errors;
  std::size_t tenants_built = 0;   // server contexts made from the files
  std::size_t tenants_reused = 0;  // taken over from `previous`: no file changed
  std::int64_t build_ms = 0;       // filled by the caller that timed it (reload)
  bool partial = false;            // reload_tenants(): only the changed tenants were read
  bool in_place = false;           // ... and replaced in the running generation's arrays
  std::size_t tenant_files_read = 0;  // reload_tenants(): tenant files parsed again
};

// Loads every certificate and key, builds every SSL_CTX. Never throws.
// `health` (optional) gives each cluster endpoint its process-wide health record.
// `tickets` (optional): the process-wide ticket keys every listener's front context uses, so
// that sessions resume across workers and reloads.
// `previous` (optional, the running generation): a tenant whose name, TLS settings and files
// (cert, key, client_ca: same stamps) are unchanged, and whose chain has not expired, shares
// the previous server context instead of parsing and building it again. Only the tenant's own
// context is ever reused, so tenants stay isolated (each has its own session-id context).
BuildResult build_snapshot(config::Config cfg, std::uint64_t generation,
                           upstream::HealthRegistry* health = nullptr,
                           const tls::TicketKeyStore* tickets = nullptr,
                           const Snapshot* previous = nullptr);

// load + analyze + build, the path `run` and reload share; refuses what `check` calls an
// error, except that with [gateway].tenant_errors = "quarantine" (the default) an error
// confined to one tenant (its file, certificate, key or client CA) leaves that tenant out, in
// config.quarantined, and its hosts refused at the handshake, while the others are built. On a
// reload (`previous` set), such a tenant that served in `previous` with a certificate chain
// that has not expired keeps that version instead (Snapshot::stale). Each certificate and key is parsed once: tenant contexts are built first, and the
// certificate analyzers then judge only the tenants a build cannot vouch for (it failed, a
// certificate in the chain has expired, or the tenant has a client_ca bundle), plus every
// non-tenant file. Tenants reused from `previous` were judged when built.
BuildResult load_snapshot(const std::string& config_path, std::uint64_t generation,
                          upstream::HealthRegistry* health = nullptr,
                          const tls::TicketKeyStore* tickets = nullptr,
                          const Snapshot* previous = nullptr);

// Per-tenant reload. `changed`: the files the watcher saw change. When each is a tenant file
// (tenants_dir/*.toml) or a certificate, key or client CA that only tenants name, just those
// tenants are read and built again; every other tenant is taken over from `previous` (its
// files are neither parsed nor stat()ed; an expired chain is still caught). std::nullopt when
// the change is anything else (gateway.toml or a file it names, a file of a quarantined
// tenant, an error this path cannot judge): the caller then runs load_snapshot.
std::optional<BuildResult> reload_tenants(const Snapshot& previous,
                                          const std::vector<std::string>& changed,
                                          std::uint64_t generation,
                                          upstream::HealthRegistry* health = nullptr,
                                          const tls::TicketKeyStore* tickets = nullptr);

}  // namespace portcullis::gateway::runtime
