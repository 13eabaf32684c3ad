// ContextBuilder: builds cold tenants' TLS contexts (lazy_context.h) off the workers' event loops.
//
// A cold tenant's first handshake pauses (the client-hello callback returns RETRY, sni.cc), asks
// for a build here and registers a BuildWaiter (io/socket.cc: a uv_async_t on its loop); when the
// build lands, every waiter of that tenant is woken and resumes its handshake, which then finds
// the context warm. Handshakes waiting for the same tenant share one build.
// Why own threads rather than uv_queue_work: libuv's pool is process-wide and also runs
// getaddrinfo and file work, so a burst of cold tenants would delay DNS; and the dedup and the
// queue bound must be shared by all workers anyway. One thread (two on 4+ cores): a build is
// about a millisecond of CPU, so one thread serves about a thousand cold tenants a second.
// Bounded: at most kMaxQueued tenants wait for a build; past that request() refuses, and the
// handshake is refused (reason tenant_build_queue_full) rather than queueing unbounded work.
//
// Thread:   any (workers request and register; builder threads build and wake). One mutex,
//           taken only on a cold handshake; a warm one never comes here.
// Lifetime: a never-destroyed singleton; its threads start at the first request. A pending
//           tenant is kept alive by the queue; waiters are weak, so a connection closed while
//           its tenant builds is simply skipped.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "tls/lazy_context.h"

namespace portcullis::tls {

// A paused handshake. ready() is called once, on a builder thread (or the caller's, when the
// build already landed), and must only post a wake-up to the connection's own thread.
class BuildWaiter {
 public:
  virtual ~BuildWaiter() = default;
  virtual void ready() noexcept = 0;
};

class ContextBuilder {
 public:
  static constexpr std::size_t kMaxQueued = 1024;

  static ContextBuilder& instance();

  enum class Request : std::uint8_t {
    queued,  // building or queued (maybe by another handshake): pause and wait
    ready,   // no longer cold (built or failed meanwhile): go on now
    full,    // kMaxQueued tenants already wait: refuse the handshake
  };
  Request request(LazyContext& t) noexcept;
  // Wakes `w` when `t`'s build has landed: now, if it is not pending any more.
  void notify(LazyContext& t, std::weak_ptr<BuildWaiter> w) noexcept;

 private:
  ContextBuilder() = default;
  void run() noexcept;

  struct Pending {
    std::shared_ptr<LazyContext> tenant;
    std::vector<std::weak_ptr<BuildWaiter>> waiters;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<const LazyContext*, Pending> pending_;
  std::deque<const LazyContext*> queue_;  // the pending ones not yet taken by a thread
  std::vector<std::thread> threads_;      // never joined: the singleton is never destroyed
};

}  // namespace portcullis::tls
