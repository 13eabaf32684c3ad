// Tenant server contexts built at their first handshake, and a process-wide cap on how many are
// kept in memory ([limits] max_tenant_contexts).
//
// A snapshot with more tenants than the cap indexes them (names, hosts, file paths and stamps)
// and gives each a LazyContext instead of an SSL_CTX. The client-hello callback asks the cache
// for it: a warm tenant costs one atomic shared_ptr load and a relaxed flag; a cold one is
// built off the loop by context_builder.h (one certificate chain and key parsed: about a
// millisecond) while its handshake pauses, inserted, and, past the cap, the least recently used one (CLOCK: a second chance for each tenant
// handshaken since the hand last passed) is dropped. An SSL that switched to a context holds its
// own reference, so dropping it never affects a handshake in progress.
// A tenant whose files do not build (unreadable, key mismatch, expired chain) is failed once:
// its handshakes are refused as quarantined until a reload brings a new LazyContext.
//
// Thread:   any (workers build and read; the main thread sets the capacity and the hook). One
//           mutex, taken only to insert, evict or fail: never on a warm handshake.
// Lifetime: a LazyContext is shared by the snapshots that index the tenant with the same files
//           (a reload of another tenant keeps it, built or not); the cache only points at it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "tls/context.h"

namespace portcullis::tls {

class LazyContext : public std::enable_shared_from_this<LazyContext> {
 public:
  enum class State : std::uint8_t { cold, built, failed };

  LazyContext(ServerContextSpec spec, std::string tenant, std::string file);
  ~LazyContext();
  LazyContext(const LazyContext&) = delete;
  LazyContext& operator=(const LazyContext&) = delete;

  const ServerContextSpec& spec() const noexcept { return spec_; }
  const std::string& tenant() const noexcept { return tenant_; }
  const std::string& file() const noexcept { return file_; }
  State state() const noexcept { return state_.load(std::memory_order_acquire); }
  std::string error() const;  // why it failed; "" otherwise
  // From the certificate file alone (expiry_scan.h), without building: the leaf's notAfter and
  // the earliest of the chain's; 0 until read.
  std::int64_t file_leaf_not_after() const noexcept {
    return file_leaf_not_after_.load(std::memory_order_relaxed);
  }
  std::int64_t file_chain_not_after() const noexcept {
    return file_chain_not_after_.load(std::memory_order_relaxed);
  }
  void set_file_not_after(std::int64_t leaf, std::int64_t chain) noexcept {
    file_chain_not_after_.store(chain, std::memory_order_relaxed);
    file_leaf_not_after_.store(leaf, std::memory_order_relaxed);
  }

 private:
  friend class ContextCache;
  ServerContextSpec spec_;
  std::string tenant_;
  std::string file_;
  std::atomic<std::shared_ptr<SSL_CTX>> ctx_;
  std::atomic<State> state_{State::cold};
  std::atomic<bool> used_{false};  // CLOCK's reference bit
  std::atomic<std::int64_t> not_after_{0};  // earliest notAfter of the chain, once built
  std::atomic<std::int64_t> file_leaf_not_after_{0};
  std::atomic<std::int64_t> file_chain_not_after_{0};
  std::string error_;  // guarded by the cache's mutex
};

class ContextCache {
 public:
  static ContextCache& instance();

  // 0 = no cap. Takes effect at the next build.
  void set_capacity(std::size_t max) noexcept { capacity_.store(max, std::memory_order_relaxed); }
  // Called (outside the lock, on the thread that found it) once per tenant that fails to build.
  using FailureHook = std::function<void(const std::string& tenant, const std::string& file,
                                         const std::string& error)>;
  void set_failure_hook(FailureHook hook);

  // The tenant's context, built now if it is cold; null when its files do not build (the
  // tenant is then failed, and `t.error()` says why). Workers call warm() first and leave cold
  // tenants to context_builder.h.
  std::shared_ptr<SSL_CTX> acquire(LazyContext& t) noexcept;
  // The warm path alone: the context if built and unexpired, else null (cold, or failed now).
  std::shared_ptr<SSL_CTX> warm(LazyContext& t) noexcept;

  std::size_t built() const noexcept { return built_.load(std::memory_order_relaxed); }
  std::uint64_t builds() const noexcept { return builds_.load(std::memory_order_relaxed); }
  std::uint64_t evictions() const noexcept { return evictions_.load(std::memory_order_relaxed); }
  std::uint64_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }

 private:
  friend class LazyContext;
  std::shared_ptr<SSL_CTX> fail(LazyContext& t, std::string error) noexcept;
  void evict_locked();
  void dropped(const LazyContext& t) noexcept;

  std::mutex mu_;
  std::vector<std::weak_ptr<LazyContext>> ring_;  // built ones (and some dead, pruned lazily)
  std::size_t hand_ = 0;
  FailureHook hook_;
  std::atomic<std::size_t> capacity_{0};
  std::atomic<std::size_t> built_{0};
  std::atomic<std::uint64_t> builds_{0};
  std::atomic<std::uint64_t> evictions_{0};
  std::atomic<std::uint64_t> failures_{0};
};

}  // namespace portcullis::tls
