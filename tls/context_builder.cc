#include "tls/context_builder.h"

#include <algorithm>

namespace portcullis::tls {

ContextBuilder& ContextBuilder::instance() {
  static ContextBuilder* builder = new ContextBuilder;  // never destroyed: threads outlive main
  return *builder;
}

ContextBuilder::Request ContextBuilder::request(LazyContext& t) noexcept {
  std::lock_guard lock(mu_);
  if (pending_.count(&t) != 0) {
    return Request::queued;
  }
  std::shared_ptr<LazyContext> keep = t.weak_from_this().lock();
  if (t.state() != LazyContext::State::cold || !keep) {
    return Request::ready;  // not cold, or not shared-owned (then built inline)
  }
  if (pending_.size() >= kMaxQueued) {
    return Request::full;  // counted as handshake failures, reason tenant_build_queue_full
  }
  if (threads_.empty()) {
    const unsigned n = std::thread::hardware_concurrency() >= 4 ? 2 : 1;
    try {
      for (unsigned i = 0; i < n; ++i) {
        threads_.emplace_back([this] { run(); });
      }
    } catch (...) {
      if (threads_.empty()) {
        return Request::ready;  // no thread: the caller builds inline, as before
      }
    }
  }
  pending_.emplace(&t, Pending{std::move(keep), {}});
  queue_.push_back(&t);
  cv_.notify_one();
  return Request::queued;
}

void ContextBuilder::notify(LazyContext& t, std::weak_ptr<BuildWaiter> w) noexcept {
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(&t);
    if (it != pending_.end()) {
      it->second.waiters.push_back(std::move(w));
      return;
    }
  }
  if (auto waiter = w.lock()) {
    waiter->ready();  // landed between the callback's request and this registration
  }
}

void ContextBuilder::run() noexcept {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return !queue_.empty(); });
    const LazyContext* key = queue_.front();
    queue_.pop_front();
    std::shared_ptr<LazyContext> t = pending_.at(key).tenant;
    lock.unlock();
    // Builds it, or fails it (quarantine, failure hook on this thread); the result stays on
    // the LazyContext, where each resumed handshake finds it.
    ContextCache::instance().acquire(*t);
    lock.lock();
    auto node = pending_.extract(key);
    lock.unlock();
    for (auto& w : node.mapped().waiters) {
      if (auto waiter = w.lock()) {
        waiter->ready();
      }
    }
    node = {};
    t.reset();  // may drop the last reference (its snapshot is gone): outside the lock
    lock.lock();
  }
}

}  // namespace portcullis::tls
