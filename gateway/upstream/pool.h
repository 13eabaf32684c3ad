// Pool: one worker's upstream connections, grouped by PoolKey.
//
// Reusing a connection reuses its verified identity, so the key names everything that affected
// verification: the snapshot generation (trust bundle, client certificate), the cluster (expected
// SPIFFE ID or server name, protocol) and the endpoint.
// Caps ([limits]): at most max_upstream_connections open or dialling connections per origin
// (cluster or egress entry) and worker; past it a request waits in the origin's queue (at most
// max_pending_requests, else 503 upstream_overflow) until a connection of that origin has room
// or closes. A waiting request whose client goes away is dropped from the queue at once.
// Panic routing: when every endpoint of a cluster is ejected or unhealthy, route to them anyway
// (round robin over all) and count it (portcullis_upstream_panic_total).
// Thread:   the owning worker's loop. Owns every UpstreamConnection it opened.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "gateway/http/exchange.h"
#include "gateway/snapshot/snapshot.h"
#include "gateway/snapshot/target.h"
#include "tls/session.h"

namespace portcullis::gateway::upstream {

class UpstreamConnection;
class WorkerContext;

struct PoolKey {
  std::uint64_t generation = 0;
  const void* origin = nullptr;  // the ClusterRuntime / egress entry inside that snapshot
  std::string endpoint;          // "host:port" as configured, or "host|ip:port" for egress
  friend auto operator<=>(const PoolKey&, const PoolKey&) = default;
};

class Pool {
 public:
  explicit Pool(WorkerContext& worker);
  ~Pool();

  // Picks an endpoint (round robin), reuses a connection with room or opens one, and attaches
  // `ex` to it. On failure the exchange gets its 502/503 through Exchange::fail().
  void acquire(const runtime::SnapshotPtr& snap, const runtime::ClusterRuntime& cluster,
               http::Exchange& ex);
  // The same for one given endpoint of a target (egress: an address already checked).
  void acquire(const runtime::SnapshotPtr& snap, PoolKey key, const Target& target,
               const Endpoint& endpoint, http::Exchange& ex);

  // Called by a connection that is gone: a queued request of its origin may dial.
  void connection_closed(UpstreamConnection* c) noexcept;
  // The next live queued exchange for exactly `key` (detached from the queue), or null.
  http::Exchange* next_queued(const PoolKey& key) noexcept;
  // Requests of `origin` are waiting (for any endpoint).
  bool has_queued(const void* origin) noexcept;
  // The newest TLS session a connection under `key` made, if it can still be offered.
  // A key names everything verification depended on, so resuming it accepts no peer that a
  // full handshake under the same key would refuse.
  SSL_SESSION* session_for(const PoolKey& key) noexcept;
  // Keeps `s` (from a connection whose full handshake passed every check) for `key`.
  void store_session(const PoolKey& key, tls::SslSessionPtr s) noexcept;
  // Drops idle connections and sessions of generations older than `generation`.
  void retire_before(std::uint64_t generation) noexcept;
  void close_all() noexcept;
  std::size_t size() const noexcept;
  // Connections (open or dialling) of one origin.
  std::size_t connections(const void* origin) const noexcept;

 private:
  struct Queued;
  struct Origin {
    std::size_t connections = 0;
    std::deque<std::unique_ptr<Queued>> queue;
  };
  void prune(Origin& o) noexcept;
  void dial_queued(const void* origin) noexcept;

  WorkerContext& worker_;
  std::map<PoolKey, std::vector<UpstreamConnection*>> conns_;
  std::unordered_map<const void*, std::size_t> next_endpoint_;  // round robin per cluster
  std::map<PoolKey, tls::SslSessionPtr> sessions_;  // one per key: the newest
  std::unordered_map<const void*, Origin> origins_;
};

}  // namespace portcullis::gateway::upstream
