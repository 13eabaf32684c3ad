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
  if (t.state() != LazyContext::State::cold) {
    return Request::ready;
  }
  if (pending_.size() >= kMaxQueued) {
    ++refused_;
    return Request::full;
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
  pending_.emplace(&t, Pending{t.shared_from_this(), {}});
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

std::uint64_t ContextBuilder::refused() const noexcept {
  std::lock_guard lock(const_cast<std::mutex&>(mu_));
  return refused_;
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
