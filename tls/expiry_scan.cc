#include "tls/expiry_scan.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include "certs/pem.h"

namespace portcullis::tls {

ExpiryScanner& ExpiryScanner::instance() {
  static ExpiryScanner* scanner = new ExpiryScanner;  // never destroyed: its thread outlives main
  return *scanner;
}

void ExpiryScanner::scan(std::vector<std::shared_ptr<LazyContext>> tenants) {
  std::lock_guard lock(mu_);
  next_ = std::move(tenants);
  has_next_ = true;
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread([this] { run(); });
    } catch (...) {
      return;  // no thread: no expiry series for unbuilt tenants, everything else works
    }
  }
  cv_.notify_one();
}

std::uint64_t ExpiryScanner::files_read() const noexcept {
  std::lock_guard lock(mu_);
  return files_read_;
}

void ExpiryScanner::run() noexcept {
  // Lowest priority: this is bookkeeping, never worth a worker's time (Linux: per thread).
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19);
  std::vector<std::shared_ptr<LazyContext>> list;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return has_next_; });
    list.swap(next_);
    next_.clear();
    has_next_ = false;
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (has_next_) {
        break;  // a newer generation's list replaces this one
      }
      LazyContext& t = *list[i];
      if (t.file_leaf_not_after() != 0) {
        continue;
      }
      lock.unlock();
      certs::Chain chain;
      certs::LoadError err;
      bool ok = certs::load_chain(t.spec().cert_chain, chain, err) && !chain.certs.empty();
      if (ok) {
        const std::int64_t leaf = certs::not_after_unix(chain.certs.front().get());
        std::int64_t earliest = leaf;
        for (const auto& c : chain.certs) {
          earliest = std::min(earliest, certs::not_after_unix(c.get()));
        }
        t.set_file_not_after(leaf, earliest);
      }
      lock.lock();
      files_read_ += 1;
    }
    lock.unlock();
    list.clear();  // may free LazyContexts of a retired generation: outside the lock
    lock.lock();
  }
}

}  // namespace portcullis::tls
