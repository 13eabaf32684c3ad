#include "gateway/upstream/pool.h"

#include <algorithm>
#include <ctime>
#include <new>

#include "gateway/upstream/upstream_connection.h"

namespace portcullis::gateway::upstream {

Pool::Pool(WorkerContext& worker) : worker_(worker) {}

Pool::~Pool() = default;

void Pool::acquire(const runtime::SnapshotPtr& snap, const runtime::ClusterRuntime& cluster,
                   http::Exchange& ex) {
  const std::size_t n = cluster.endpoints.size();
  if (n == 0) {
    ex.fail(503, Reason::no_healthy_endpoint);
    return;
  }
  // Round robin over the endpoints that are healthy and not ejected.
  std::size_t& next = next_endpoint_[&cluster];
  const upstream::Endpoint* chosen = nullptr;
  for (std::size_t i = 0; i < n && chosen == nullptr; ++i) {
    const upstream::Endpoint& e = cluster.endpoints[next++ % n];
    if (!e.health || e.health->usable()) {
      chosen = &e;
    }
  }
  if (chosen == nullptr) {
    ex.fail(503, Reason::no_healthy_endpoint);
    return;
  }
  const upstream::Endpoint& endpoint = *chosen;
  PoolKey key{snap->generation, &cluster,
              endpoint.host_port.host + ":" + std::to_string(endpoint.host_port.port)};
  acquire(snap, std::move(key), cluster.target, endpoint, ex);
}

void Pool::acquire(const runtime::SnapshotPtr& snap, PoolKey key, const Target& target,
                   const Endpoint& endpoint, http::Exchange& ex) {
  auto& list = conns_[key];
  for (UpstreamConnection* c : list) {
    if (c->has_room()) {
      c->add(ex);
      return;
    }
  }
  auto* c = new UpstreamConnection(worker_, *this, key, snap, target, endpoint);
  list.push_back(c);
  c->add(ex);
  c->start();
}

void Pool::connection_closed(UpstreamConnection* c) noexcept {
  auto it = conns_.find(c->key());
  if (it == conns_.end()) {
    return;
  }
  auto& list = it->second;
  list.erase(std::remove(list.begin(), list.end(), c), list.end());
  if (list.empty()) {
    conns_.erase(it);
  }
}

SSL_SESSION* Pool::session_for(const PoolKey& key) noexcept {
  auto it = sessions_.find(key);
  if (it == sessions_.end()) {
    return nullptr;
  }
  if (!tls::session_usable(it->second.get(), std::time(nullptr))) {
    sessions_.erase(it);
    return nullptr;
  }
  return it->second.get();
}

void Pool::store_session(const PoolKey& key, tls::SslSessionPtr s) noexcept {
  try {
    sessions_[key] = std::move(s);
  } catch (const std::bad_alloc&) {  // only a resumption lost
  }
}

void Pool::retire_before(std::uint64_t generation) noexcept {
  std::erase_if(sessions_,
                [generation](const auto& kv) { return kv.first.generation < generation; });
  std::vector<UpstreamConnection*> idle;
  for (auto& [key, list] : conns_) {
    if (key.generation < generation) {
      for (UpstreamConnection* c : list) {
        if (c->idle()) {
          idle.push_back(c);
        }
      }
    }
  }
  for (UpstreamConnection* c : idle) {
    c->close();
  }
}

void Pool::close_all() noexcept {
  std::vector<UpstreamConnection*> all;
  for (auto& [key, list] : conns_) {
    all.insert(all.end(), list.begin(), list.end());
  }
  for (UpstreamConnection* c : all) {
    c->close();
  }
  sessions_.clear();
}

std::size_t Pool::size() const noexcept {
  std::size_t n = 0;
  for (const auto& [key, list] : conns_) {
    n += list.size();
  }
  return n;
}

}  // namespace portcullis::gateway::upstream
