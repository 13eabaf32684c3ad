// The memory budget's pure parts: /proc and cgroup parsing, the automatic budget, hysteresis.
#include <catch2/catch.hpp>

#include "gateway/runtime/memory_budget.h"

namespace rt = portcullis::gateway::runtime;

TEST_CASE("statm: the second field is resident pages", "[memory]") {
  CHECK(rt::parse_statm_rss("52311 2840 1919 379 0 6201 0\n", 4096) == 2840ULL * 4096);
  CHECK_FALSE(rt::parse_statm_rss("", 4096));
  CHECK_FALSE(rt::parse_statm_rss("52311", 4096));
  CHECK_FALSE(rt::parse_statm_rss("52311 x 1", 4096));
}

TEST_CASE("meminfo: MemTotal in kB", "[memory]") {
  CHECK(rt::parse_meminfo_total("MemTotal:       24683520 kB\nMemFree:  1 kB\n") ==
        24683520ULL * 1024);
  CHECK(rt::parse_meminfo_total("MemFree: 1 kB\nMemTotal: 2048 kB\n") == 2048ULL * 1024);
  CHECK_FALSE(rt::parse_meminfo_total("MemFree: 1 kB\n"));
  CHECK_FALSE(rt::parse_meminfo_total("XMemTotal: 2048 kB\n"));
  CHECK_FALSE(rt::parse_meminfo_total("MemTotal: lots\n"));
}

TEST_CASE("cgroup limits: v2 max, v1 unlimited, real limits", "[memory]") {
  CHECK_FALSE(rt::parse_cgroup_limit("max\n"));
  CHECK_FALSE(rt::parse_cgroup_limit("9223372036854771712\n"));  // v1 "unlimited"
  CHECK(rt::parse_cgroup_limit("536870912\n") == 536870912ULL);
  CHECK_FALSE(rt::parse_cgroup_limit(""));
}

TEST_CASE("auto budget: 90% of the tighter of cgroup and physical memory", "[memory]") {
  CHECK(rt::auto_budget(std::nullopt, 1000) == 900);
  CHECK(rt::auto_budget(500, 1000) == 450);
  CHECK(rt::auto_budget(5000, 1000) == 900);  // a cgroup above physical memory is no limit
  CHECK(rt::auto_budget(500, 0) == 450);      // no /proc/meminfo: the cgroup alone
  CHECK(rt::auto_budget(std::nullopt, 0) == 0);  // nothing known: off, never shed blindly
}

TEST_CASE("hysteresis: shed above the budget, resume below 90% of it", "[memory]") {
  const std::uint64_t budget = 1000;
  CHECK_FALSE(rt::next_shedding(false, 1000, budget));
  CHECK(rt::next_shedding(false, 1001, budget));
  CHECK(rt::next_shedding(true, 950, budget));  // still shedding between 90% and 100%
  CHECK(rt::next_shedding(true, 900, budget));
  CHECK_FALSE(rt::next_shedding(true, 899, budget));
  CHECK_FALSE(rt::next_shedding(true, 1 << 30, 0));  // off
}

TEST_CASE("usage: heap in use plus non-heap resident, never above RSS", "[memory]") {
  constexpr std::uint64_t MiB = 1 << 20;
  // after a burst: 100 MiB resident, 2 MiB in use, 10 MiB outside the heap
  CHECK(rt::budget_usage(100 * MiB, 2 * MiB, 10 * MiB) == 12 * MiB);
  CHECK(rt::budget_usage(20 * MiB, 30 * MiB, 10 * MiB) == 20 * MiB);  // capped by RSS
  // so the held-but-free memory no longer keeps a 32 MiB budget shedding
  CHECK_FALSE(rt::next_shedding(true, rt::budget_usage(100 * MiB, 2 * MiB, 10 * MiB), 32 * MiB));
}

TEST_CASE("trim: only when RSS holds much more than the usage", "[memory]") {
  constexpr std::uint64_t MiB = 1 << 20;
  CHECK(rt::worth_trimming(100 * MiB, 12 * MiB));
  CHECK_FALSE(rt::worth_trimming(12 * MiB, 12 * MiB));
  CHECK_FALSE(rt::worth_trimming(11 * MiB, 12 * MiB));
  CHECK_FALSE(rt::worth_trimming(18 * MiB, 12 * MiB));   // 6 MiB held: under the slack
  CHECK_FALSE(rt::worth_trimming(250 * MiB, 200 * MiB));  // held is a quarter: busy, not idle
  CHECK(rt::worth_trimming(310 * MiB, 200 * MiB));
}
