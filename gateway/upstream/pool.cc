#include "gateway/upstream/pool.h"

#include <algorithm>
#include <ctime>
#include <new>

#include "gateway/upstream/upstream_connection.h"

namespace portcullis::gateway::upstream {

// A request waiting for a connection of its origin. While it waits it is the exchange's
// UpstreamSide, so a client that goes away is forgotten at once (and never dials).
struct Pool::Queued final : http::UpstreamSide {
  http::Exchange* ex = nullptr;
  runtime::SnapshotPtr snap;
  PoolKey key;
  Target target;
  Endpoint endpoint;
  ~Queued() override {
    if (ex != nullptr) {
      ex->detach_upstream();
    }
  }
  void on_request_body(http::Exchange&) noexcept override {}  // stays buffered (bounded)
  void on_response_body_consumed(http::Exchange&, std::size_t) noexcept override {}
  void on_downstream_abort(http::Exchange&) noexcept override { ex = nullptr; }
  http::Exchange* take() noexcept {
    http::Exchange* e = ex;
    ex = nullptr;
    if (e != nullptr) {
      e->detach_upstream();
    }
    return e;
  }
};

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
    // Panic: every endpoint is ejected or unhealthy. Trying them serves more than refusing
    // (an ejected endpoint may be back long before eject_time ends).
    chosen = &cluster.endpoints[next++ % n];
    if (chosen->health) {
      chosen->health->count_panic();
    }
  }
  const upstream::Endpoint& endpoint = *chosen;
  PoolKey key{snap->generation, &cluster,
              endpoint.host_port.host + ":" + std::to_string(endpoint.host_port.port)};
  acquire(snap, std::move(key), cluster.target, endpoint, ex);
}

void Pool::acquire(const runtime::SnapshotPtr& snap, PoolKey key, const Target& target,
                   const Endpoint& endpoint, http::Exchange& ex) {
  if (auto it = conns_.find(key); it != conns_.end()) {
    for (UpstreamConnection* c : it->second) {
      if (c->has_room()) {
        c->add(ex);
        return;
      }
    }
  }
  const config::Limits& limits = worker_.snapshot()->config.limits;
  Origin& o = origins_[key.origin];
  if (o.connections >= limits.max_upstream_connections) {
    prune(o);
    if (o.queue.size() >= limits.max_pending_requests) {
      ex.fail(503, Reason::upstream_overflow);
      return;
    }
    try {
      auto q = std::make_unique<Queued>();
      q->snap = snap;
      q->key = std::move(key);
      q->target = target;
      q->endpoint = endpoint;
      q->ex = &ex;
      ex.attach_upstream(*q);
      o.queue.push_back(std::move(q));
    } catch (const std::bad_alloc&) {
      ex.fail(503, Reason::upstream_overflow);
    }
    return;
  }
  ++o.connections;
  auto* c = new UpstreamConnection(worker_, *this, key, snap, target, endpoint);
  conns_[key].push_back(c);
  c->add(ex);
  c->start();
}

void Pool::prune(Origin& o) noexcept {
  std::erase_if(o.queue, [](const std::unique_ptr<Queued>& q) { return q->ex == nullptr; });
}

http::Exchange* Pool::next_queued(const PoolKey& key) noexcept {
  auto it = origins_.find(key.origin);
  if (it == origins_.end()) {
    return nullptr;
  }
  prune(it->second);
  auto& queue = it->second.queue;
  for (auto q = queue.begin(); q != queue.end(); ++q) {
    if ((*q)->key == key) {
      http::Exchange* ex = (*q)->take();
      queue.erase(q);
      return ex;
    }
  }
  return nullptr;
}

bool Pool::has_queued(const void* origin) noexcept {
  auto it = origins_.find(origin);
  if (it == origins_.end()) {
    return false;
  }
  prune(it->second);
  return !it->second.queue.empty();
}

// A connection of `origin` closed: dial (or reuse) for the queued requests while under the cap.
void Pool::dial_queued(const void* origin) noexcept {
  const std::uint32_t cap = worker_.snapshot()->config.limits.max_upstream_connections;
  for (;;) {
    auto it = origins_.find(origin);
    if (it == origins_.end()) {
      return;
    }
    Origin& o = it->second;
    prune(o);
    if (o.queue.empty() || o.connections >= cap) {
      if (o.queue.empty() && o.connections == 0) {
        origins_.erase(it);
      }
      return;
    }
    std::unique_ptr<Queued> q = std::move(o.queue.front());
    o.queue.pop_front();
    if (http::Exchange* ex = q->take()) {
      acquire(q->snap, q->key, q->target, q->endpoint, *ex);  // may touch origins_
    }
  }
}

std::size_t Pool::connections(const void* origin) const noexcept {
  auto it = origins_.find(origin);
  return it == origins_.end() ? 0 : it->second.connections;
}

void Pool::connection_closed(UpstreamConnection* c) noexcept {
  auto it = conns_.find(c->key());
  if (it == conns_.end()) {
    return;
  }
  auto& list = it->second;
  const auto before = list.size();
  list.erase(std::remove(list.begin(), list.end(), c), list.end());
  const bool removed = list.size() != before;
  if (list.empty()) {
    conns_.erase(it);
  }
  const void* origin = c->key().origin;
  if (auto o = origins_.find(origin); removed && o != origins_.end() && o->second.connections > 0) {
    --o->second.connections;
  }
  dial_queued(origin);
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
  std::vector<http::Exchange*> waiting;
  for (auto& [origin, o] : origins_) {
    for (auto& q : o.queue) {
      if (http::Exchange* ex = q->take()) {
        waiting.push_back(ex);
      }
    }
    o.queue.clear();
  }
  for (http::Exchange* ex : waiting) {
    ex->fail(503, Reason::draining);
  }
}

std::size_t Pool::size() const noexcept {
  std::size_t n = 0;
  for (const auto& [key, list] : conns_) {
    n += list.size();
  }
  return n;
}

}  // namespace portcullis::gateway::upstream
