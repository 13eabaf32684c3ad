#include "tls/lazy_context.h"

#include <algorithm>
#include <ctime>

#include "certs/pem.h"

namespace portcullis::tls {
namespace {

// Earliest notAfter of the leaf and its chain (0 when there is no certificate).
std::int64_t chain_not_after(SSL_CTX* ctx) {
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  if (leaf == nullptr) {
    return 0;
  }
  std::int64_t at = certs::not_after_unix(leaf);
  STACK_OF(X509)* chain = nullptr;
  if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1 && chain != nullptr) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      at = std::min(at, certs::not_after_unix(sk_X509_value(chain, i)));
    }
  }
  return at;
}

}  // namespace

LazyContext::LazyContext(ServerContextSpec spec, std::string tenant, std::string file)
    : spec_(std::move(spec)), tenant_(std::move(tenant)), file_(std::move(file)) {}

LazyContext::~LazyContext() { ContextCache::instance().dropped(*this); }

std::string LazyContext::error() const {
  std::lock_guard lock(ContextCache::instance().mu_);
  return error_;
}

ContextCache& ContextCache::instance() {
  static ContextCache* cache = new ContextCache;  // never destroyed: contexts may outlive main
  return *cache;
}

void ContextCache::set_failure_hook(FailureHook hook) {
  std::lock_guard lock(mu_);
  hook_ = std::move(hook);
}

std::shared_ptr<SSL_CTX> ContextCache::warm(LazyContext& t) noexcept {
  if (t.state() == LazyContext::State::failed) {
    return nullptr;
  }
  if (std::shared_ptr<SSL_CTX> ctx = t.ctx_.load(std::memory_order_acquire)) {
    if (!t.used_.load(std::memory_order_relaxed)) {
      t.used_.store(true, std::memory_order_relaxed);  // written only when it changes
    }
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    if (t.not_after_.load(std::memory_order_relaxed) > now) {
      return ctx;
    }
    return fail(t, "certificate " + t.spec_.cert_chain + " (or its chain) has expired");
  }
  return nullptr;
}

std::shared_ptr<SSL_CTX> ContextCache::acquire(LazyContext& t) noexcept {
  if (std::shared_ptr<SSL_CTX> ctx = warm(t)) {
    return ctx;
  }
  if (t.state() == LazyContext::State::failed) {
    return nullptr;
  }
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  // Cold: built outside the lock, so that one slow build holds nobody else up. Two workers may
  // race to build the same tenant; the first to insert wins and the other's copy is freed.
  // One loader per thread (a loader is not thread-safe): its key decoder and the shared CA
  // certificates outlive one build, which is most of a cold handshake's cost.
  thread_local std::unique_ptr<ContextLoader> loader;
  if (!loader || loader->cached_certificates() > 256) {
    loader = std::make_unique<ContextLoader>();
  }
  ContextResult r = make_server_context(t.spec_, loader.get());
  if (!r.ctx) {
    return fail(t, r.error);
  }
  builds_.fetch_add(1, std::memory_order_relaxed);  // every one that ran, kept or not
  const std::int64_t not_after = chain_not_after(r.ctx.get());
  if (not_after <= now) {
    return fail(t, "certificate " + t.spec_.cert_chain + " (or its chain) has expired");
  }
  std::shared_ptr<SSL_CTX> built(r.ctx.release(), SSL_CTX_free);
  std::lock_guard lock(mu_);
  if (std::shared_ptr<SSL_CTX> won = t.ctx_.load(std::memory_order_acquire)) {
    return won;
  }
  if (t.state() == LazyContext::State::failed) {
    return nullptr;
  }
  t.not_after_.store(not_after, std::memory_order_relaxed);
  t.used_.store(true, std::memory_order_relaxed);
  t.ctx_.store(built, std::memory_order_release);
  t.state_.store(LazyContext::State::built, std::memory_order_release);
  ring_.push_back(t.weak_from_this());
  built_.fetch_add(1, std::memory_order_relaxed);
  evict_locked();
  return built;
}

std::shared_ptr<SSL_CTX> ContextCache::fail(LazyContext& t, std::string error) noexcept {
  FailureHook hook;
  {
    std::lock_guard lock(mu_);
    if (t.state() == LazyContext::State::failed) {
      return nullptr;
    }
    if (t.state() == LazyContext::State::built) {
      built_.fetch_sub(1, std::memory_order_relaxed);  // its ring entry is pruned later
    }
    t.error_ = error;
    t.ctx_.store(nullptr, std::memory_order_release);
    t.state_.store(LazyContext::State::failed, std::memory_order_release);
    failures_.fetch_add(1, std::memory_order_relaxed);
    hook = hook_;
  }
  if (hook) {
    hook(t.tenant_, t.file_, error);
  }
  return nullptr;
}

// CLOCK: the hand clears the reference bit of a tenant used since it last passed and drops the
// first one that was not. Two turns at most: after one, every bit is clear.
void ContextCache::evict_locked() {
  const std::size_t cap = capacity_.load(std::memory_order_relaxed);
  std::size_t steps = 2 * ring_.size() + 2;
  while (!ring_.empty() && steps-- > 0) {
    const bool over = cap != 0 && built_.load(std::memory_order_relaxed) > cap;
    // Dead or no longer built entries are pruned as the hand passes; stop once under the cap
    // and the ring holds no more than twice what is built.
    if (!over && ring_.size() <= 2 * built_.load(std::memory_order_relaxed) + 64) {
      return;
    }
    if (hand_ >= ring_.size()) {
      hand_ = 0;
    }
    std::shared_ptr<LazyContext> t = ring_[hand_].lock();
    if (!t || t->state() != LazyContext::State::built) {
      ring_[hand_] = std::move(ring_.back());
      ring_.pop_back();
      continue;
    }
    if (!over) {
      ++hand_;
      continue;
    }
    if (t->used_.exchange(false, std::memory_order_relaxed)) {
      ++hand_;
      continue;
    }
    t->ctx_.store(nullptr, std::memory_order_release);
    t->state_.store(LazyContext::State::cold, std::memory_order_release);
    built_.fetch_sub(1, std::memory_order_relaxed);
    evictions_.fetch_add(1, std::memory_order_relaxed);
    ring_[hand_] = std::move(ring_.back());
    ring_.pop_back();
  }
}

void ContextCache::dropped(const LazyContext& t) noexcept {
  std::lock_guard lock(mu_);  // the state is changed under it (acquire, fail, evict)
  if (t.state() == LazyContext::State::built) {
    built_.fetch_sub(1, std::memory_order_relaxed);
  }
}

}  // namespace portcullis::tls
