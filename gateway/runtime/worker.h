// Worker: one thread, one uv_loop_t, its own SO_REUSEPORT listening sockets, its own upstream
// connection pools and the connections it accepted.
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

namespace portcullis::gateway {
namespace listen {
class DownstreamConnection;
class Listener;
}  // namespace listen
namespace upstream {
class HealthChecker;
class Pool;
}
}  // namespace portcullis::gateway

namespace portcullis::gateway::runtime {

class Server;

class Worker {
 public:
  // `fds`: one bound, listening socket per snapshot listener (same order).
  Worker(Server& server, unsigned id, SnapshotPtr snapshot, std::vector<int> fds);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void join();

  // Any thread.
  void publish(SnapshotPtr next);
  void drain();  // stop accepting; drain connections; the loop ends when all are gone
  void stop();   // close everything now

  // Worker thread only.
  uv_loop_t* loop() noexcept { return &loop_; }
  const SnapshotPtr& snapshot() const noexcept { return snapshot_; }
  Server& server() noexcept { return server_; }
  upstream::Pool& pool() noexcept { return *pool_; }
  unsigned id() const noexcept { return id_; }
  bool draining() const noexcept { return draining_; }
  void add(listen::DownstreamConnection* c) { connections_.insert(c); }
  void remove(listen::DownstreamConnection* c);
  std::size_t connection_count() const noexcept { return connections_.size(); }
  // Runs c->flush_deferred() on the next loop turn (before polling). A session's output must not
  // be pulled inside an upstream callback: pulling may finish and destroy the exchange that is
  // still on the caller's stack.
  void defer_flush(listen::DownstreamConnection* c);
  // Its entry in deferred_order_ stays and is skipped.
  void cancel_flush(listen::DownstreamConnection* c) { deferred_.erase(c); }

 private:
  using Task = std::function<void(Worker&)>;
  void post(Task t);
  static void on_async(uv_async_t* h) noexcept;
  void run();
  void maybe_finish();

  Server& server_;
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
  std::unordered_set<listen::DownstreamConnection*> connections_;
  // Connections whose output waits for the next loop turn. Flushed first come, first served:
  // the vector keeps the order (an unordered_set's hash order gave some connections a
  // consistently late turn, widening the latency tail); the set says who is still due, so a
  // cancelled or closed connection is skipped.
  std::vector<listen::DownstreamConnection*> deferred_order_, flushing_;
  std::unordered_set<listen::DownstreamConnection*> deferred_;
  uv_idle_t idle_{};
  static void on_idle(uv_idle_t* h) noexcept;
  bool draining_ = false;
  bool stopping_ = false;
};

}  // namespace portcullis::gateway::runtime
