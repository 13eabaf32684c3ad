// WorkerContext: what one worker offers the connections, pools and handlers on its loop: the
// loop, the current snapshot, the upstream pool, the events sink, the process-wide connection
// caps and the overload/drain state, plus the deferred-flush and connection-tracking hooks.
//
// runtime::Worker implements it; DownstreamConnection, Listener, UpstreamConnection, Pool,
// HealthChecker, the egress handler and the tunnel take it instead of a Worker or the Server,
// so each can be driven in a unit test by a small fake on a real loop.
//
// Thread:   the worker's loop thread only.
#pragma once

#include <cstddef>

#include "gateway/io/uv.h"
#include "gateway/snapshot/connection_limits.h"
#include "gateway/snapshot/rate_limiter.h"
#include "gateway/snapshot/snapshot.h"

namespace portcullis::gateway::events {
class Events;
}

namespace portcullis::gateway::upstream {

class Pool;

// Something whose output waits for the next loop turn (WorkerContext::defer_flush).
class Deferred {
 public:
  virtual void flush_deferred() noexcept = 0;

 protected:
  ~Deferred() = default;
};

// A downstream connection as its worker sees it: flushed later, drained, aborted.
class Tracked : public Deferred {
 public:
  virtual void drain() noexcept = 0;   // finish in-flight requests, then close
  virtual void abort() noexcept = 0;   // close now

 protected:
  ~Tracked() = default;
};

class WorkerContext {
 public:
  virtual uv_loop_t* loop() noexcept = 0;
  // The newest snapshot; a connection pins the one it started with.
  virtual const runtime::SnapshotPtr& snapshot() const noexcept = 0;
  virtual Pool& pool() noexcept = 0;
  virtual events::Events& events() noexcept = 0;
  virtual runtime::ConnectionLimits& connection_limits() noexcept = 0;
  // Past [limits].memory_budget: new requests are answered 503 (reason memory_budget).
  virtual bool shedding() const noexcept = 0;
  // Stopping: no new connections, keep-alive ends.
  virtual bool draining() const noexcept = 0;

  // Connection tracking: a tracked connection is drained / aborted with the worker.
  virtual void add(Tracked* c) = 0;
  virtual void remove(Tracked* c) noexcept = 0;
  // Runs d->flush_deferred() on the next loop turn (before polling). A session's output must
  // not be pulled inside an upstream callback: pulling may finish and destroy the exchange that
  // is still on the caller's stack.
  virtual void defer_flush(Deferred* d) = 0;
  virtual void cancel_flush(Deferred* d) noexcept = 0;
  // This worker's request rate limits (rate_limiter.h); null: none (unit-test fakes).
  virtual runtime::RateLimiter* rate_limiter() noexcept { return nullptr; }
  virtual unsigned worker_id() const noexcept { return 0; }

 protected:
  ~WorkerContext() = default;
};

}  // namespace portcullis::gateway::upstream
