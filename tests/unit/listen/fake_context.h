// FakeContext: an upstream::WorkerContext on a real libuv loop, without a Worker or a Server.
// It owns the loop, a Pool, a real events::Events (logs off) and the connection caps, records
// the connections that come and go, and flushes deferred output on the next run() turn.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include <uv.h>

#include "gateway/events/events.h"
#include "gateway/snapshot/snapshot.h"
#include "gateway/upstream/pool.h"
#include "gateway/upstream/worker_context.h"

namespace portcullis::gateway::testing {

class FakeContext final : public upstream::WorkerContext {
 public:
  explicit FakeContext(runtime::SnapshotPtr snap) : snap_(std::move(snap)) {
    uv_loop_init(&loop_);
  }
  ~FakeContext() {
    pool_.close_all();
    // Bounded: every handle here closes within a few turns.
    for (int i = 0; i < 100 && uv_loop_alive(&loop_) != 0; ++i) {
      uv_run(&loop_, UV_RUN_NOWAIT);
    }
    uv_loop_close(&loop_);
  }

  // One loop turn, then the deferred flushes (what Worker's idle handle does).
  void turn() {
    uv_run(&loop_, UV_RUN_NOWAIT);
    std::vector<upstream::Deferred*> due;
    due.swap(deferred_);
    for (auto* d : due) {
      d->flush_deferred();
    }
  }

  uv_loop_t* loop() noexcept override { return &loop_; }
  const runtime::SnapshotPtr& snapshot() const noexcept override { return snap_; }
  upstream::Pool& pool() noexcept override { return pool_; }
  events::Events& events() noexcept override { return events_; }
  runtime::ConnectionLimits& connection_limits() noexcept override { return limits_; }
  bool shedding() const noexcept override { return shedding_; }
  bool draining() const noexcept override { return false; }
  void add(upstream::Tracked* c) override {
    tracked.push_back(c);
    ++added;
  }
  void remove(upstream::Tracked* c) noexcept override {
    tracked.erase(std::remove(tracked.begin(), tracked.end(), c), tracked.end());
    cancel_flush(c);
    ++removed;
  }
  void defer_flush(upstream::Deferred* d) override {
    if (std::find(deferred_.begin(), deferred_.end(), d) == deferred_.end()) {
      deferred_.push_back(d);
    }
  }
  void cancel_flush(upstream::Deferred* d) noexcept override {
    deferred_.erase(std::remove(deferred_.begin(), deferred_.end(), d), deferred_.end());
  }

  std::vector<upstream::Tracked*> tracked;
  int added = 0;
  int removed = 0;
  bool shedding_ = false;

 private:
  uv_loop_t loop_{};
  runtime::SnapshotPtr snap_;
  events::Events events_;
  runtime::ConnectionLimits limits_;
  upstream::Pool pool_{*this};
  std::vector<upstream::Deferred*> deferred_;
};

}  // namespace portcullis::gateway::testing
