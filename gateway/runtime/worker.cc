#include "gateway/runtime/worker.h"

#include <unistd.h>

#include "gateway/io/uv.h"
#include "gateway/listen/listener.h"
#include "gateway/runtime/memory_budget.h"
#include "gateway/upstream/health_checker.h"
#include "gateway/upstream/pool.h"

namespace portcullis::gateway::runtime {

Worker::Worker(Shared shared, unsigned id, SnapshotPtr snapshot, std::vector<int> fds)
    : shared_(std::move(shared)), id_(id), snapshot_(std::move(snapshot)), fds_(std::move(fds)) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &async_, &Worker::on_async);
  async_.data = this;
  uv_idle_init(&loop_, &idle_);
  idle_.data = this;
  pool_ = std::make_unique<upstream::Pool>(*this);
  if (id_ == 0) {
    health_ = std::make_unique<upstream::HealthChecker>(*this);
  }
  for (std::size_t i = 0; i < fds_.size(); ++i) {
    listeners_.push_back(
        std::make_unique<listen::Listener>(*this, snapshot_->listeners[i].cfg->name, fds_[i]));
  }
}

Worker::~Worker() {
  join();
  // Every handle is closed by now; a leak would make this fail loudly in tests.
  const int rc = uv_loop_close(&loop_);
  if (rc != 0) {
    uv_walk(&loop_, [](uv_handle_t* h, void*) {
      if (!uv_is_closing(h)) {
        uv_close(h, nullptr);
      }
    }, nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    uv_loop_close(&loop_);
  }
}

void Worker::start() {
  for (auto& l : listeners_) {
    l->start();
  }
  if (health_) {
    health_->start();
  }
  thread_ = std::thread([this] { run(); });
}

void Worker::join() {
  if (thread_.joinable()) {
    thread_.join();
  }
}

void Worker::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Tell the main loop; the last worker out lets it finish.
  shared_.finished();
}

bool Worker::shedding() const noexcept { return shared_.memory.shedding(); }

void Worker::post(Task t) {
  {
    std::lock_guard lock{mu_};
    if (mailbox_closed_) {
      return;  // the loop is ending; nothing left to tell it
    }
    tasks_.push_back(std::move(t));
    uv_async_send(&async_);
  }
}

void Worker::on_async(uv_async_t* h) noexcept {
  auto& self = io::owner_of<Worker>(h);
  std::vector<Task> batch;
  {
    std::lock_guard lock{self.mu_};
    batch.swap(self.tasks_);  // uv_async_send coalesces: take everything
  }
  for (auto& task : batch) {
    task(self);
  }
}

void Worker::publish(SnapshotPtr next) {
  post([next = std::move(next)](Worker& w) {
    w.snapshot_ = next;
    w.pool_->retire_before(next->generation);
  });
}

void Worker::drain() {
  post([](Worker& w) {
    if (w.draining_) {
      return;
    }
    w.draining_ = true;
    w.wind_down(false);
  });
}

void Worker::stop() {
  post([](Worker& w) {
    w.draining_ = true;
    w.stopping_ = true;
    w.wind_down(true);
  });
}

void Worker::wind_down(bool abort) {
  for (auto& l : listeners_) {
    l->close();
  }
  // a copy: a connection that ends leaves connections_ while we walk
  std::vector<upstream::Tracked*> all(connections_.begin(), connections_.end());
  for (auto* c : all) {
    if (abort) {
      c->abort();
    } else {
      c->drain();
    }
  }
  maybe_finish();
}

void Worker::defer_flush(upstream::Deferred* d) {
  if (deferred_order_.empty()) {
    uv_idle_start(&idle_, &Worker::on_idle);
  }
  if (deferred_.insert(d).second) {
    deferred_order_.push_back(d);
  }
}

void Worker::on_idle(uv_idle_t* h) noexcept {
  auto& self = io::owner_of<Worker>(h);
  uv_idle_stop(h);
  // Flushing may defer again (for the next turn) or close connections: work on a copy of the
  // order, and flush only those still due. Both vectors keep their capacity between turns.
  self.flushing_.swap(self.deferred_order_);
  for (auto* c : self.flushing_) {
    if (self.deferred_.erase(c) == 1) {
      c->flush_deferred();
    }
  }
  self.flushing_.clear();
}

void Worker::remove(upstream::Tracked* c) noexcept {
  connections_.erase(c);
  deferred_.erase(c);
  if (draining_) {
    maybe_finish();
  }
}

void Worker::maybe_finish() {
  if (!connections_.empty()) {
    return;
  }
  // The last client is gone: close pooled upstreams and the mailbox so the loop can end.
  if (health_) {
    health_->close();
  }
  pool_->close_all();
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&idle_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
  }
  std::lock_guard lock{mu_};
  if (!mailbox_closed_) {
    mailbox_closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  }
}

}  // namespace portcullis::gateway::runtime
