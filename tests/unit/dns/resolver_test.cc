// dns::Resolver on a real uv loop against a real DNS server on 127.0.0.1 (tests/unit/dns/
// dns_server.h, same loop): retransmission, TCP fallback, several servers, the TTL cache.
// Loops are bounded by a guard timer so a broken resolver fails the test instead of hanging it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <optional>

#include "gateway/dns/resolver.h"
#include "gateway/egress/resolver.h"
#include "tests/unit/dns/dns_server.h"

using portcullis::gateway::dns::Options;
using portcullis::gateway::dns::Resolver;
using dns_test::DnsServer;

namespace {

constexpr const char* kName = "www.example.test";

struct Result {
  int status = 1;
  std::vector<std::string> addresses;
};

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);  // let closing handles finish
    // Every handle the resolver opened is closed again: a leak fails here.
    CHECK(uv_loop_close(&loop) == 0);
  }

  // Runs the loop until done() or max_ms of loop time passed (a bound, not an assertion).
  template <class Pred>
  void run_until(Pred done, std::uint64_t max_ms = 5000) {
    bool expired = false;
    uv_timer_t guard{};
    uv_timer_init(&loop, &guard);
    guard.data = &expired;
    uv_timer_start(&guard, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; }, max_ms, 0);
    while (!done() && !expired) {
      uv_run(&loop, UV_RUN_ONCE);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
  // Lets `ms` of loop time pass (for TTLs to run out).
  void pass(std::uint64_t ms) {
    bool expired = false;
    uv_timer_t t{};
    uv_timer_init(&loop, &t);
    t.data = &expired;
    uv_timer_start(&t, [](uv_timer_t* h) { *static_cast<bool*>(h->data) = true; }, ms, 0);
    while (!expired) {
      uv_run(&loop, UV_RUN_ONCE);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
};

Result lookup(Loop& l, Resolver& r, const std::string& name = kName) {
  std::optional<Result> got;
  r.resolve(name, true, [&](int status, std::vector<std::string> addrs) {
    got = Result{status, std::move(addrs)};
  });
  l.run_until([&] { return got.has_value(); });
  REQUIRE(got.has_value());
  return *got;
}

Options fast(const DnsServer& s) {
  Options o;
  o.servers = s.address();
  o.timeout_ms = 50;
  o.tries = 3;
  return o;
}

bool has(const Result& r, const std::string& a) {
  return std::find(r.addresses.begin(), r.addresses.end(), a) != r.addresses.end();
}

}  // namespace

TEST_CASE("A and AAAA from the configured server, as two queries with their own ids") {
  Loop l;
  auto s = std::make_unique<DnsServer>(&l.loop);
  s->a[kName] = {"192.0.2.7"};
  s->aaaa[kName] = {"2001:db8::7"};
  auto r = std::make_unique<Resolver>(&l.loop, fast(*s));
  const Result res = lookup(l, *r);
  CHECK(res.status == 0);
  CHECK(has(res, "192.0.2.7"));
  CHECK(has(res, "2001:db8::7"));
  REQUIRE(s->seen.size() == 2);
  CHECK(s->seen[0].qtype != s->seen[1].qtype);
  CHECK(s->seen[0].id != s->seen[1].id);
  CHECK(r->idle());  // nothing in flight: no socket, no timer left open
  r.reset();
  s.reset();
}

TEST_CASE("a dropped query is retransmitted") {
  Loop l;
  auto s = std::make_unique<DnsServer>(&l.loop);
  s->a[kName] = {"192.0.2.8"};
  s->drop_udp = 2;  // both first questions (A and AAAA) are lost
  auto r = std::make_unique<Resolver>(&l.loop, fast(*s));
  const Result res = lookup(l, *r);
  CHECK(res.status == 0);
  CHECK(has(res, "192.0.2.8"));
  CHECK(s->count(false) >= 4);
  r.reset();
  s.reset();
}

TEST_CASE("a truncated UDP answer is asked again over TCP") {
  Loop l;
  auto s = std::make_unique<DnsServer>(&l.loop);
  s->a[kName] = {"192.0.2.9"};
  s->truncate_udp = true;
  auto r = std::make_unique<Resolver>(&l.loop, fast(*s));
  const Result res = lookup(l, *r);
  CHECK(res.status == 0);
  CHECK(has(res, "192.0.2.9"));
  CHECK(s->count(true) >= 1);
  r.reset();
  s.reset();
  l.pass(1);  // the server's TCP connection sees the resolver's close
}

TEST_CASE("a first server that is down, a second that answers (egress::resolve, a list)") {
  Loop l;
  // A port nobody listens on: bind, note it, close.
  std::uint16_t dead = 0;
  {
    auto probe = std::make_unique<DnsServer>(&l.loop);
    dead = probe->port();
  }
  uv_run(&l.loop, UV_RUN_NOWAIT);
  auto s = std::make_unique<DnsServer>(&l.loop);
  s->a[kName] = {"192.0.2.10"};
  const std::string servers = "127.0.0.1:" + std::to_string(dead) + ", " + s->address();
  std::optional<Result> got;
  portcullis::gateway::egress::resolve(&l.loop, servers, kName,
                                       [&](int status, std::vector<std::string> addrs) {
                                         got = Result{status, std::move(addrs)};
                                       });
  l.run_until([&] { return got.has_value(); }, 10000);
  REQUIRE(got.has_value());
  CHECK(got->status == 0);
  CHECK(has(*got, "192.0.2.10"));
  CHECK(s->count(false) >= 1);
  CHECK(Resolver::for_loop(&l.loop, servers).idle());
  s.reset();
}

TEST_CASE("the cache honours the TTL, then sees a changed answer") {
  Loop l;
  auto s = std::make_unique<DnsServer>(&l.loop);
  s->a[kName] = {"192.0.2.11"};
  s->ttl = 1;
  auto r = std::make_unique<Resolver>(&l.loop, fast(*s));
  CHECK(has(lookup(l, *r), "192.0.2.11"));
  const std::size_t asked = s->seen.size();
  s->a[kName] = {"192.0.2.12"};

  // Within the TTL: no query, the old answer, and still never a synchronous callback.
  bool called = false;
  std::vector<std::string> second;
  r->resolve(kName, true, [&](int, std::vector<std::string> a) {
    called = true;
    second = std::move(a);
  });
  CHECK_FALSE(called);
  l.run_until([&] { return called; });
  CHECK(second == std::vector<std::string>{"192.0.2.11"});
  CHECK(s->seen.size() == asked);
  CHECK(r->stats().cache_hits == 1);

  l.pass(1100);  // the 1 s TTL runs out
  const Result third = lookup(l, *r);
  CHECK(third.addresses == std::vector<std::string>{"192.0.2.12"});
  CHECK(s->seen.size() > asked);
  r.reset();
  s.reset();
}

TEST_CASE("TTL floor and ceiling") {
  Loop l;
  auto s = std::make_unique<DnsServer>(&l.loop);
  s->a[kName] = {"192.0.2.13"};
  SECTION("a TTL of 0 is still cached for the floor") {
    s->ttl = 0;
    auto r = std::make_unique<Resolver>(&l.loop, fast(*s));
    lookup(l, *r);
    const std::size_t asked = s->seen.size();
    lookup(l, *r);
    CHECK(s->seen.size() == asked);
    r.reset();
  }
  SECTION("a long TTL is cut to the ceiling") {
    s->ttl = 86400;
    Options o = fast(*s);
    o.max_ttl_ms = 1000;
    o.min_ttl_ms = 100;
    auto r = std::make_unique<Resolver>(&l.loop, o);
    lookup(l, *r);
    const std::size_t asked = s->seen.size();
    l.pass(1050);
    lookup(l, *r);
    CHECK(s->seen.size() > asked);
    r.reset();
  }
  s.reset();
}

TEST_CASE("no such name is cached for the negative TTL, a timeout is not cached") {
  Loop l;
  auto s = std::make_unique<DnsServer>(&l.loop);
  auto r = std::make_unique<Resolver>(&l.loop, fast(*s));
  CHECK(lookup(l, *r, "nope.example.test").status == UV_EAI_NONAME);
  const std::size_t asked = s->seen.size();
  CHECK(lookup(l, *r, "nope.example.test").status == UV_EAI_NONAME);
  CHECK(s->seen.size() == asked);

  s->drop_udp = 1000;
  s->a["slow.example.test"] = {"192.0.2.14"};
  CHECK(lookup(l, *r, "slow.example.test").status == UV_ETIMEDOUT);
  s->drop_udp = 0;
  CHECK(lookup(l, *r, "slow.example.test").status == 0);
  r.reset();
  s.reset();
}

TEST_CASE("a cancelled lookup never calls back and its query stops at once") {
  Loop l;
  auto s = std::make_unique<DnsServer>(&l.loop);
  s->drop_udp = 1000;
  Options o = fast(*s);
  o.timeout_ms = 30000;  // a query left running would hold its socket and timer this long
  auto r = std::make_unique<Resolver>(&l.loop, o);
  bool called = false;
  auto* lk = r->resolve(kName, true, [&](int, std::vector<std::string>) { called = true; });
  l.run_until([&] { return !s->seen.empty(); });
  REQUIRE(!s->seen.empty());
  lk->cancel();
  l.run_until([&] { return r->idle(); });
  CHECK(r->idle());
  CHECK_FALSE(called);
  r.reset();
  s.reset();
}

TEST_CASE("a bad server list fails every lookup, asynchronously") {
  Loop l;
  Options o;
  o.servers = "127.0.0.1:53,not-an-address";
  auto r = std::make_unique<Resolver>(&l.loop, o);
  CHECK(r->init_status() == UV_EINVAL);
  CHECK(lookup(l, *r).status == UV_EINVAL);
  r.reset();
}
