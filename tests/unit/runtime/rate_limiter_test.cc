// TokenBucket and RateLimiter (gateway/snapshot/): pure code on a clock the test moves.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "gateway/snapshot/rate_limiter.h"
#include "gateway/snapshot/token_bucket.h"

using portcullis::gateway::runtime::RateLimitChange;
using portcullis::gateway::runtime::RateLimiter;
using portcullis::gateway::runtime::RateSettings;
using portcullis::gateway::runtime::TokenBucket;

namespace {
constexpr std::int64_t kSec = 1'000'000'000;
}

TEST_CASE("a token bucket passes its burst, then the rate", "[rate]") {
  TokenBucket b(10, 5, 0);
  int passed = 0;
  for (int i = 0; i < 20; ++i) {
    passed += b.take(0) ? 1 : 0;
  }
  CHECK(passed == 5);
  CHECK(b.retry_after_seconds(0) == 1);
  CHECK_FALSE(b.take(kSec / 20));    // half a token
  CHECK(b.take(kSec / 10));          // one token after 100 ms
  CHECK_FALSE(b.take(kSec / 10));
  CHECK_FALSE(b.full(kSec / 10));
  CHECK(b.full(kSec));               // refilled, capped at the burst
  passed = 0;
  for (int i = 0; i < 20; ++i) {
    passed += b.take(10 * kSec) ? 1 : 0;
  }
  CHECK(passed == 5);
}

TEST_CASE("token bucket: burst 0 is the rate, slow rates give long Retry-After", "[rate]") {
  TokenBucket b(3, 0, 0);
  CHECK(b.burst() == 3);
  TokenBucket slow(0.1, 1, 0);  // one request per 10 s
  CHECK(slow.take(0));
  CHECK_FALSE(slow.take(0));
  CHECK(slow.retry_after_seconds(0) == 10);
  CHECK(slow.retry_after_seconds(5 * kSec) == 5);
  CHECK_FALSE(slow.take(-kSec));  // a clock stepping back adds nothing
  slow.reconfigure(1000, 1);
  CHECK(slow.take(kSec / 100));
}

TEST_CASE("rate limiter: a tenant's limit reports start once and stop after a quiet second",
          "[rate]") {
  RateLimiter rl;
  std::vector<RateLimitChange> ch;
  const RateSettings tenant{2, 2};
  const RateSettings off{};
  int refused = 0;
  for (int i = 0; i < 10; ++i) {
    const auto v = rl.admit("acme", tenant, "10.0.0.1", off, 0, ch);
    if (!v.allowed) {
      ++refused;
      CHECK(v.scope == "tenant");
      CHECK(v.retry_after == 1);
    }
  }
  CHECK(refused == 8);
  REQUIRE(ch.size() == 1);  // one start, not one per refusal
  CHECK(ch[0].limiting);
  CHECK(ch[0].scope == "tenant");
  CHECK(ch[0].tenant == "acme");
  ch.clear();
  // Another tenant is untouched.
  CHECK(rl.admit("globex", tenant, "10.0.0.1", off, 0, ch).allowed);
  CHECK(rl.admit("globex", off, "10.0.0.1", off, 0, ch).allowed);
  CHECK(ch.empty());
  // A quiet second later, any request of the worker notices the stop.
  CHECK(rl.admit("globex", off, "10.0.0.9", off, kSec + 1, ch).allowed);
  REQUIRE(ch.size() == 1);
  CHECK_FALSE(ch[0].limiting);
  CHECK(ch[0].tenant == "acme");
}

TEST_CASE("rate limiter: clients are limited apart and the table stays bounded", "[rate]") {
  RateLimiter rl(4);
  std::vector<RateLimitChange> ch;
  const RateSettings off{};
  const RateSettings client{1, 1};
  CHECK(rl.admit("acme", off, "10.0.0.1", client, 0, ch).allowed);
  const auto v = rl.admit("acme", off, "10.0.0.1", client, 0, ch);
  CHECK_FALSE(v.allowed);
  CHECK(v.scope == "client");
  REQUIRE(ch.size() == 1);
  CHECK(ch[0].client == "10.0.0.1");
  CHECK(ch[0].tenant == "acme");
  ch.clear();
  CHECK(rl.admit("acme", off, "10.0.0.2", client, 0, ch).allowed);  // another address
  // A spray of addresses: the table keeps four; the limited one is evicted with a stop.
  for (int i = 0; i < 1000; ++i) {
    rl.admit("acme", off, "192.0.2." + std::to_string(i), client, 0, ch);
  }
  CHECK(rl.clients() == 4);
  REQUIRE(ch.size() == 1);
  CHECK_FALSE(ch[0].limiting);
  CHECK(ch[0].client == "10.0.0.1");
}

TEST_CASE("rate limiter: a client refused on its own limit spends no tenant token", "[rate]") {
  RateLimiter rl;
  std::vector<RateLimitChange> ch;
  const RateSettings tenant{1, 1};
  const RateSettings client{1, 1};
  CHECK(rl.admit("acme", tenant, "10.0.0.1", client, 0, ch).allowed);
  CHECK(rl.admit("acme", tenant, "10.0.0.1", client, 0, ch).scope == "client");
  CHECK(rl.admit("acme", tenant, "10.0.0.2", client, 0, ch).scope == "tenant");
  CHECK(rl.admit("acme", tenant, "10.0.0.3", client, kSec, ch).allowed);
}
