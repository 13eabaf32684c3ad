// Worker: one thread, one uv_loop_t, a dup of each listening socket (shared by the workers of
// the process), its own upstream connection pools and the connections it accepted.
//
// Thread:   everything here runs on the worker's thread, except publish()/drain()/stop(), which
//           post a message through the Mailbox (the only cross-thread door besides atomics).
// Lifetime: owned by the Server; the thread is joined before destruction.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include <uv.h>

#include "gateway/snapshot/snapshot.h"
#include "gateway/upstream/worker_context.h"

namespace portcullis::gateway {
namespace listen {
class Listener;
}  // namespace listen
namespace upstream {
class HealthChecker;
class Pool;
}
}  // namespace portcullis::gateway

namespace portcullis::gateway::runtime {

class MemoryBudget;

class Worker final : public upstream::WorkerContext {
 public:
  // What a worker shares with the process; every reference outlives the worker.
  struct Shared {
    events::Events& events;
    ConnectionLimits& limits;
    const MemoryBudget& memory;
    std::function<void()> finished;  // from the worker thread once its loop ended
  };
  // `fds`: one bound, listening socket per snapshot listener (same order).
  Worker(Shared shared, unsigned id, SnapshotPtr snapshot, std::vector<int> fds);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void join();

  // Any thread.
  void publish(SnapshotPtr next);
  void drain();  // stop accepting; drain connections; the loop ends when all are gone
  void stop();   // close everything now

  // WorkerContext (worker thread only).
  uv_loop_t* loop() noexcept override { return &loop_; }
  const SnapshotPtr& snapshot() const noexcept override { return snapshot_; }
  upstream::Pool& pool() noexcept override { return *pool_; }
  events::Events& events() noexcept override { return shared_.events; }
  ConnectionLimits& connection_limits() noexcept override { return shared_.limits; }
  bool shedding() const noexcept override;
  bool draining() const noexcept override { return draining_; }
  void add(upstream::Tracked* c) override { connections_.insert(c); }
  void remove(upstream::Tracked* c) noexcept override;
  void defer_flush(upstream::Deferred* d) override;
  // Its entry in deferred_order_ stays and is skipped.
  void cancel_flush(upstream::Deferred* d) noexcept override { deferred_.erase(d); }

  runtime::RateLimiter* rate_limiter() noexcept override { return &rate_limiter_; }
  unsigned worker_id() const noexcept override { return id_; }

  unsigned id() const noexcept { return id_; }
  std::size_t connection_count() const noexcept { return connections_.size(); }

 private:
  using Task = std::function<void(Worker&)>;
  void post(Task t);
  static void on_async(uv_async_t* h) noexcept;
  void run();
  void maybe_finish();
  // Closes the listeners, then drains (lets finish) or aborts every connection.
  void wind_down(bool abort);

  Shared shared_;
  unsigned id_;
  SnapshotPtr snapshot_;
  std::vector<int> fds_;
  uv_loop_t loop_{};
  uv_async_t async_{};
  std::mutex mu_;
  std::vector<Task> tasks_;
  bool mailbox_closed_ = false;  // guarded by mu_
  std::thread thread_;
  std::unique_ptr<upstream::Pool> pool_;
  std::unique_ptr<upstream::HealthChecker> health_;  // worker 0 only
  std::vector<std::unique_ptr<listen::Listener>> listeners_;
  std::unordered_set<upstream::Tracked*> connections_;
  RateLimiter rate_limiter_;
  // Connections whose output waits for the next loop turn. Flushed first come, first served:
  // the vector keeps the order (an unordered_set's hash order gave some connections a
  // consistently late turn, widening the latency tail); the set says who is still due, so a
  // cancelled or closed connection is skipped.
  std::vector<upstream::Deferred*> deferred_order_, flushing_;
  std::unordered_set<upstream::Deferred*> deferred_;
  uv_idle_t idle_{};
  static void on_idle(uv_idle_t* h) noexcept;
  bool draining_ = false;
  bool stopping_ = false;
};

}  // namespace portcullis::gateway::runtime
