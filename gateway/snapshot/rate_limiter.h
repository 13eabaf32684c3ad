// RateLimiter: one worker's request rate limits, per tenant ([rate_limit] in the tenant file)
// and per client address ([limits] client_requests_per_second / client_request_burst).
//
// Semantics: the buckets are per worker and each worker enforces the configured rate on its own,
// so the rate is per worker, not split: a client whose connections land on N workers may reach
// N times the rate. A keep-alive connection stays on one worker, so one connection sees exactly
// the configured rate, and no request pays for a lock or a shared atomic. The client address is
// the one after the PROXY header when the listener takes one.
//
// Bounds: the client table keeps at most max_clients addresses (least recently seen evicted), so
// a spray of addresses costs a fixed amount of memory; an evicted address starts again with a
// full bucket. Tenant buckets are one per tenant this worker has served.
//
// Start and stop: admit() reports a change when a tenant or client starts being refused, and
// when one that was refused has gone kQuietNs without a refusal (checked at most every
// kQuietNs, at the worker's next request of any tenant, and when an address is evicted). The
// caller turns changes into one audit line and one gauge step each, not one per request.
//
// Thread: the owning worker's loop only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/snapshot/token_bucket.h"

namespace portcullis::gateway::runtime {

struct RateLimitChange {
  std::string_view scope;  // "tenant" or "client"
  std::string tenant;      // the tenant limited, or the one whose request started a client's
  std::string client;      // scope client: the address
  bool limiting = false;   // true: started; false: stopped
  double rate = 0;
  double burst = 0;
};

struct RateSettings {
  std::uint32_t requests_per_second = 0;  // 0: no limit
  std::uint32_t burst = 0;                // 0: the rate
};

class RateLimiter {
 public:
  static constexpr std::size_t kMaxClients = 16384;
  static constexpr std::int64_t kQuietNs = 1'000'000'000;

  explicit RateLimiter(std::size_t max_clients = kMaxClients) : max_clients_(max_clients) {}
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  struct Verdict {
    bool allowed = true;
    std::string_view scope;         // when refused: "client" or "tenant"
    std::uint32_t retry_after = 0;  // when refused: seconds
  };
  // One request of `tenant` from `client`. Start/stop changes are appended to `changes`.
  Verdict admit(const std::string& tenant, RateSettings tenant_limit, const std::string& client,
                RateSettings client_limit, std::int64_t now_ns,
                std::vector<RateLimitChange>& changes);

  std::size_t clients() const noexcept { return index_.size(); }

 private:
  struct Entry {
    std::string key;     // tenant name or client address
    std::string tenant;  // client entries: the tenant of the request that started limiting
    TokenBucket bucket;
    RateSettings settings;
    bool limiting = false;
    std::int64_t last_refused_ns = 0;
  };
  using Lru = std::list<Entry>;

  Verdict check(Entry& e, std::string_view scope, RateSettings s, const std::string& tenant,
                std::int64_t now_ns, std::vector<RateLimitChange>& changes);
  Entry& client_entry(const std::string& client, RateSettings s, std::int64_t now_ns,
                      std::vector<RateLimitChange>& changes);
  void scan(std::int64_t now_ns, std::vector<RateLimitChange>& changes);
  static RateLimitChange change(const Entry& e, std::string_view scope, bool limiting);

  std::size_t max_clients_;
  std::unordered_map<std::string, Entry> tenants_;
  Lru lru_;  // front: most recently seen
  std::unordered_map<std::string_view, Lru::iterator> index_;  // keys point into lru_ entries
  std::size_t limiting_ = 0;  // entries (tenant or client) now limiting: skip scans when 0
  std::int64_t next_scan_ns_ = 0;
};

}  // namespace portcullis::gateway::runtime
