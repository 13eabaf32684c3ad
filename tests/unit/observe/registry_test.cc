#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "gateway/observe/metrics.h"
#include "tests/unit/observe/exposition.h"

namespace obs = portcullis::gateway::observe;
using portcullis::test::count_samples;
using portcullis::test::sample;

TEST_CASE("threads creating and finding the same series all land on one series", "[registry]") {
  obs::Registry reg;
  auto& hits = reg.counter("hits_total", "Hits.", {"tenant", "code"});
  constexpr int kThreads = 8;
  constexpr int kSets = 300;  // grows the lookup table several times while threads probe it
  constexpr int kRounds = 50;
  std::vector<std::vector<obs::Counter*>> seen(kThreads, std::vector<obs::Counter*>(kSets));
  std::latch go(kThreads);  // start together, so the threads overlap
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      go.arrive_and_wait();
      for (int r = 0; r < kRounds; ++r) {
        for (int k = 0; k < kSets; ++k) {
          const int i = (k * 7 + t * 37) % kSets;  // each thread walks the sets in its own order
          const std::string tenant = "t" + std::to_string(i);
          obs::Counter& c = hits.with({tenant, i % 2 == 0 ? "200" : "503"});
          c.inc();
          seen[t][i] = &c;
        }
      }
    });
  }
  for (auto& t : ts) {
    t.join();
  }
  for (int t = 1; t < kThreads; ++t) {
    CHECK(seen[t] == seen[0]);  // every thread got the same series for the same labels
  }
  const std::string page = reg.render();
  CHECK(count_samples(page, "hits_total") == kSets);
  for (int i = 0; i < kSets; ++i) {
    const std::string series = "hits_total{tenant=\"t" + std::to_string(i) + "\",code=\"" +
                               (i % 2 == 0 ? "200" : "503") + "\"}";
    REQUIRE(sample(page, series) == std::to_string(kThreads * kRounds));
  }
}

TEST_CASE("series references stay valid while the family grows", "[registry]") {
  obs::Registry reg;
  auto& lat = reg.histogram("lat_seconds", "Latency.", {"route"});
  obs::Histogram& first = lat.with({"/first"});
  first.observe(0.003);
  for (int i = 0; i < 5000; ++i) {
    lat.with({"/r" + std::to_string(i)}).observe(1);
  }
  CHECK(&lat.with({"/first"}) == &first);
  first.observe(20);
  const std::string page = reg.render();
  CHECK(sample(page, R"(lat_seconds_bucket{route="/first",le="0.005"})") == "1");
  CHECK(sample(page, R"(lat_seconds_bucket{route="/first",le="+Inf"})") == "2");
  CHECK(sample(page, R"(lat_seconds_count{route="/first"})") == "2");
  CHECK(sample(page, R"(lat_seconds_sum{route="/first"})") == "20.003");
  CHECK(sample(page, R"(lat_seconds_count{route="/r4999"})") == "1");
}

TEST_CASE("past max_series new label sets share the overflow series", "[registry]") {
  obs::Registry reg;
  auto& f = reg.counter("f_total", "F.", {"a", "b"}, 3);
  f.with({"x", "1"}).inc();
  f.with({"y", "1"}).inc();
  f.with({"z", "1"}).inc();
  f.with({"new", "1"}).inc(5);
  f.with({"newer", "2"}).inc(2);
  f.with({"x", "1"}).inc();  // existing sets keep their own series
  CHECK(&f.with({"new", "1"}) == &f.with({"other", "9"}));
  const std::string page = reg.render();
  CHECK(page == "# HELP f_total F.\n"
                "# TYPE f_total counter\n"
                "f_total{a=\"__overflow__\",b=\"__overflow__\"} 7\n"
                "f_total{a=\"x\",b=\"1\"} 2\n"
                "f_total{a=\"y\",b=\"1\"} 1\n"
                "f_total{a=\"z\",b=\"1\"} 1\n");
}

TEST_CASE("a real label set equal to the overflow one is not rendered twice", "[registry]") {
  obs::Registry reg;
  auto& f = reg.counter("g_total", "G.", {"a"}, 1);
  f.with({obs::kOverflowLabelValue}).inc();
  f.with({"b"}).inc();
  const std::string page = reg.render();
  CHECK(count_samples(page, "g_total") == 1);
  CHECK(sample(page, R"(g_total{a="__overflow__"})") == "2");
}

TEST_CASE("overflow under concurrent creation keeps exact totals and the cap", "[registry]") {
  obs::Registry reg;
  constexpr std::size_t kCap = 50;
  auto& f = reg.counter("c_total", "C.", {"who", "n"}, kCap);
  constexpr int kThreads = 8;
  constexpr int kSets = 200;
  constexpr int kRounds = 20;
  std::latch go(kThreads);  // start together, so the threads overlap
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      go.arrive_and_wait();
      const std::string who = "w" + std::to_string(t);
      for (int r = 0; r < kRounds; ++r) {
        for (int i = 0; i < kSets; ++i) {
          f.with({who, std::to_string(i)}).inc();
        }
      }
    });
  }
  for (auto& t : ts) {
    t.join();
  }
  const std::string page = reg.render();
  CHECK(count_samples(page, "c_total") == kCap + 1);
  std::uint64_t total = 0;
  for (std::size_t at = page.find("\nc_total{"); at != std::string::npos;
       at = page.find("\nc_total{", at + 1)) {
    const std::size_t value = page.find("} ", at) + 2;
    total += std::stoull(page.substr(value, page.find('\n', value) - value));
  }
  CHECK(total == std::uint64_t{kThreads} * kSets * kRounds);
  // A set that got its own series before the cap keeps every one of its increments.
  std::size_t own = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kSets; ++i) {
      const std::string labels = "who=\"w" + std::to_string(t) + "\",n=\"" + std::to_string(i);
      const std::string v = sample(page, "c_total{" + labels + "\"}");
      if (!v.empty()) {
        ++own;
        CHECK(v == std::to_string(kRounds));
      }
    }
  }
  CHECK(own == kCap);
}

TEST_CASE("labelless families, gauges and the number format", "[registry]") {
  obs::Registry reg;
  reg.gauge("conns", "Open connections.", {"listener"}).with({"public"}).add(120000);
  reg.gauge("conns", "Open connections.", {"listener"}).with({"egress"}).add(-1);
  reg.gauge("temp", "T.").get().set(0.1 + 0.2);
  reg.counter("plain_total", "P.").get().inc(3);
  const std::string page = reg.render();
  CHECK(sample(page, R"(conns{listener="public"})") == "120000");  // not 1.2e+05
  CHECK(sample(page, R"(conns{listener="egress"})") == "-1");
  CHECK(sample(page, "temp") == "0.30000000000000004");  // round-trips, unlike %g
  CHECK(sample(page, "plain_total") == "3");
  CHECK(obs::format_double(123456.7) == "123456.7");
  CHECK(obs::format_double(1e-5) == "1e-05");
  CHECK(obs::format_double(1e300) == "1e+300");
  CHECK(obs::format_double(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(obs::format_double(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(obs::format_double(std::nan("")) == "NaN");
  CHECK_THROWS_AS(reg.counter("plain_total", "P.").with({"extra"}), std::invalid_argument);
}

TEST_CASE("sweep drops refused label sets, keeps the rest and the overflow totals", "[registry]") {
  obs::Registry reg;
  auto& hits = reg.counter("hits_total", "Hits.", {"tenant"}, 3);
  hits.with({"acme"}).inc(1);
  hits.with({"globex"}).inc(2);
  hits.with({"initech"}).inc(3);
  hits.with({"umbrella"}).inc(4);  // past the cap: overflow
  CHECK(sample(reg.render(), "hits_total{tenant=\"__overflow__\"}") == "4");
  const std::size_t dropped =
      hits.sweep([](std::span<const std::string> v) { return v[0] == "acme"; });
  CHECK(dropped == 2);
  std::string page = reg.render();
  CHECK(page.find("globex") == std::string::npos);
  CHECK(page.find("initech") == std::string::npos);
  CHECK(sample(page, "hits_total{tenant=\"acme\"}") == "1");
  CHECK(sample(page, "hits_total{tenant=\"__overflow__\"}") == "4");
  // Room again: a new label set gets its own series; an old one starts from zero.
  hits.with({"hooli"}).inc(5);
  hits.with({"globex"}).inc(6);  // the cap (3) is reached again by acme, overflow, hooli
  page = reg.render();
  CHECK(sample(page, "hits_total{tenant=\"hooli\"}") == "5");
  CHECK(sample(page, "hits_total{tenant=\"__overflow__\"}") == "10");
  hits.set_max_series(10);
  hits.with({"globex"}).inc(7);
  CHECK(sample(reg.render(), "hits_total{tenant=\"globex\"}") == "7");
  CHECK(hits.size() == 4);
}

TEST_CASE("sweeps under concurrent updates lose no kept series", "[registry]") {
  obs::Registry reg;
  auto& hits = reg.counter("hits_total", "Hits.", {"tenant"});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::latch go(kThreads + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      go.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) {
        hits.with({"keep"}).inc();
        hits.with({"gone" + std::to_string(t * 100 + i % 50)}).inc();
      }
    });
  }
  go.arrive_and_wait();
  // Sweeps come with reloads. What a sweep unlinks stays allocated for ten seconds (a thread
  // may hold it between with() and inc()), so sweeps 2 ms apart free nothing a thread still
  // uses, even on a loaded machine under AddressSanitizer (where freeing at the next sweep,
  // as this code first did, was caught writing to a freed series).
  for (int s = 0; s < 20; ++s) {
    hits.sweep([](std::span<const std::string> v) { return v[0] == "keep"; });
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (auto& th : threads) {
    th.join();
  }
  CHECK(sample(reg.render(), "hits_total{tenant=\"keep\"}") ==
        std::to_string(kThreads * kPerThread));
}
