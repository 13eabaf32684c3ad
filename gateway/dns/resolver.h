// Resolver: asynchronous name -> addresses on one worker loop, through c-ares.
//
// One c-ares channel per Resolver, driven by libuv: a uv_poll per socket c-ares opens
// (ARES_OPT_SOCK_STATE_CB) and one uv_timer for ares_timeout() and for handing out answers on
// the next turn. Both exist only while a lookup is in flight, so an idle Resolver holds no libuv
// handle and never keeps a loop alive. c-ares asks A and AAAA as two queries with independent
// random ids, retransmits (see Options), retries over TCP when an answer is truncated, moves on
// to the next server when one fails, and reads /etc/resolv.conf when no server is configured.
// Answers are cached per name for their TTL, clamped to [min_ttl_ms, max_ttl_ms]; "no such name"
// and "no address" answers for negative_ttl_ms. Failures (timeouts, SERVFAIL) are not cached.
// Concurrent lookups of one name share one query.
//
// Thread:   the loop's thread only. Lookups live until their callback ran or, when cancelled,
//           until their query ends; the Resolver frees them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>

namespace portcullis::gateway::dns {

// Defaults. The first try waits kTimeoutMs; c-ares doubles the wait after each round over all
// servers, kTries rounds in all: with one server 0.5 + 1 + 2 = 3.5 s before a lookup fails.
inline constexpr int kTimeoutMs = 500;
inline constexpr int kTries = 3;
inline constexpr std::uint64_t kMinTtlMs = 1'000;        // floor: answers with TTL 0 still cache 1 s
inline constexpr std::uint64_t kMaxTtlMs = 300'000;      // ceiling: 5 min, whatever the TTL says
inline constexpr std::uint64_t kNegativeTtlMs = 5'000;   // NXDOMAIN / no address
inline constexpr std::size_t kMaxCacheEntries = 10'000;  // per Resolver (so per worker)

struct Options {
  // "ip:port" or several, comma-separated, tried in order; "[v6]:port" for IPv6; a missing port
  // means 53. Empty: the servers (and search domains, ndots) of /etc/resolv.conf.
  std::string servers;
  int timeout_ms = kTimeoutMs;
  int tries = kTries;
  std::uint64_t min_ttl_ms = kMinTtlMs;
  std::uint64_t max_ttl_ms = kMaxTtlMs;
  std::uint64_t negative_ttl_ms = kNegativeTtlMs;
  std::size_t max_cache_entries = kMaxCacheEntries;
};

class Lookup {
 public:
  // status 0: addresses (text form, never empty) are the answer; else a libuv error code
  // (UV_EAI_NONAME: no such name or no address, UV_ETIMEDOUT, UV_EAI_AGAIN: server failure...).
  using Callback = std::function<void(int status, std::vector<std::string> addresses)>;
  virtual ~Lookup() = default;
  // The callback will not run. The Lookup must not be touched after its callback ran.
  virtual void cancel() noexcept = 0;
};

struct Stats {
  std::uint64_t lookups = 0;     // resolve() calls
  std::uint64_t cache_hits = 0;  // answered from the cache
  std::uint64_t queries = 0;     // name resolutions started at c-ares (A + AAAA count as one)
};

class Resolver {
 public:
  Resolver(uv_loop_t* loop, Options options);
  // Lookups still in flight are dropped without their callbacks; handles close on the next turn.
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Starts a lookup; the callback runs at most once, never before this returns. `absolute`
  // resolves the name exactly as written (no search domains, no hosts file); otherwise c-ares
  // applies /etc/hosts and the resolv.conf search list as the system resolver would.
  Lookup* resolve(const std::string& name, bool absolute, Lookup::Callback cb);

  const Stats& stats() const noexcept;
  // 0, or the libuv error every lookup fails with (bad server list, c-ares init failure).
  int init_status() const noexcept;
  // True when no lookup is in flight and no handle is open: safe to destroy without a loop turn.
  bool idle() const noexcept;

  // The shared Resolver of this thread's `loop` for `servers` (created on first use; lives until
  // the thread ends). This is how egress (and upstream endpoints) resolve: one channel and one
  // cache per worker loop.
  static Resolver& for_loop(uv_loop_t* loop, const std::string& servers);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace portcullis::gateway::dns
