#include "gateway/runtime/memory_budget.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

#include "gateway/config/config.h"

namespace portcullis::gateway::runtime {
namespace {

std::optional<std::uint64_t> number(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end == s.data()) {
    return std::nullopt;
  }
  return v;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The memory limit of our cgroup: v2 ("0::/path"), then v1 ("N:memory:/path"), each first at the
// path /proc/self/cgroup names and then at the mount root (a container sees its own cgroup there).
std::optional<std::uint64_t> cgroup_limit() {
  std::string v2_path, v1_path;
  std::istringstream lines(slurp("/proc/self/cgroup"));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("0::", 0) == 0) {
      v2_path = line.substr(3);
    } else if (const auto p = line.find(":memory:"); p != std::string::npos) {
      v1_path = line.substr(p + 8);
    }
  }
  const std::string candidates[] = {
      "/sys/fs/cgroup" + v2_path + "/memory.max",
      "/sys/fs/cgroup/memory.max",
      "/sys/fs/cgroup/memory" + v1_path + "/memory.limit_in_bytes",
      "/sys/fs/cgroup/memory/memory.limit_in_bytes",
  };
  for (const std::string& path : candidates) {
    const std::string text = slurp(path);
    if (!text.empty()) {
      return parse_cgroup_limit(text);
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> read_rss() {
  static const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  return parse_statm_rss(slurp("/proc/self/statm"), page);
}

// malloc's in-use bytes across all arenas; nullopt when malloc is not glibc's (all zero).
std::optional<std::uint64_t> heap_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  if (mi.arena == 0 && mi.hblkhd == 0) {
    return std::nullopt;
  }
  return mi.uordblks + mi.hblkhd;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::optional<std::uint64_t> parse_statm_rss(std::string_view statm, std::uint64_t page_size) {
  const auto space = statm.find(' ');
  if (space == std::string_view::npos) {
    return std::nullopt;
  }
  const auto pages = number(statm.substr(space + 1));
  if (!pages) {
    return std::nullopt;
  }
  return *pages * page_size;
}

std::optional<std::uint64_t> parse_meminfo_total(std::string_view meminfo) {
  constexpr std::string_view kKey = "MemTotal:";
  const auto p = meminfo.find(kKey);
  if (p == std::string_view::npos || (p != 0 && meminfo[p - 1] != '\n')) {
    return std::nullopt;
  }
  std::string_view rest = meminfo.substr(p + kKey.size());
  rest = rest.substr(0, rest.find('\n'));
  const auto kib = number(rest);
  if (!kib || rest.find("kB") == std::string_view::npos) {
    return std::nullopt;
  }
  return *kib * 1024;
}

std::optional<std::uint64_t> parse_cgroup_limit(std::string_view text) {
  const auto v = number(text);
  // v1 writes "unlimited" as a page-rounded INT64_MAX; anything past 2^60 bytes is no limit.
  if (!v || *v >= (std::uint64_t{1} << 60)) {
    return std::nullopt;  // "max", or unreadable
  }
  return v;
}

std::uint64_t auto_budget(std::optional<std::uint64_t> cgroup_limit, std::uint64_t mem_total) {
  std::uint64_t limit = mem_total;
  if (cgroup_limit && (*cgroup_limit < limit || limit == 0)) {
    limit = *cgroup_limit;
  }
  return limit / 10 * 9;
}

bool next_shedding(bool shedding, std::uint64_t usage, std::uint64_t budget) noexcept {
  if (budget == 0) {
    return false;
  }
  return shedding ? usage >= budget / 10 * 9 : usage > budget;
}

std::uint64_t budget_usage(std::uint64_t rss, std::uint64_t heap_in_use,
                           std::uint64_t non_heap) noexcept {
  return std::min(rss, heap_in_use + non_heap);
}

bool worth_trimming(std::uint64_t rss, std::uint64_t usage) noexcept {
  if (rss <= usage) {
    return false;
  }
  const std::uint64_t held = rss - usage;
  return held > kTrimSlack && held > usage / 2;
}

void MemoryBudget::configure(std::uint64_t configured) {
  std::uint64_t budget = configured;
  if (configured == config::Limits::kMemoryBudgetAuto) {
    budget = auto_budget(cgroup_limit(), parse_meminfo_total(slurp("/proc/meminfo")).value_or(0));
  }
  budget_.store(budget, std::memory_order_relaxed);
}

bool MemoryBudget::sample() {
  auto rss = read_rss();
  if (!rss) {
    return false;  // keep the last state: /proc unreadable is no evidence either way
  }
  std::uint64_t usage = *rss;
  // mallinfo2 walks every free chunk of every arena: at a million tenants one call took more
  // than the 250 ms period, and the main loop answered nothing else. It is asked at most once
  // per 50 of its own durations; in between, the last figure plus RSS growth since stands in.
  std::optional<std::uint64_t> heap;
  if (const std::int64_t asked = now_ms(); asked >= next_heap_ms_) {
    heap = heap_in_use();
    next_heap_ms_ = asked + 50 * (now_ms() - asked);
    last_heap_ = heap;
    rss_at_heap_ = *rss;
  } else if (last_heap_) {
    heap = *last_heap_ + (*rss - std::min(*rss, rss_at_heap_));
  }
  if (heap) {
    if (!non_heap_known_) {
      non_heap_known_ = true;
      non_heap_ = *rss - std::min(*rss, *heap);
    }
    usage = budget_usage(*rss, *heap, non_heap_);
    const std::int64_t now = now_ms();
    if (worth_trimming(*rss, usage) &&
        (last_trim_ms_ < 0 || now - last_trim_ms_ >= trim_gap_ms_)) {
      // Freed memory glibc kept after a burst goes back to the kernel. Rate-limited: the trim
      // walks every arena under its lock, so workers allocating wait meanwhile (and at a
      // million tenants it takes long: then at most once per 50 of its durations).
      last_trim_ms_ = now;
      malloc_trim(0);
      trim_gap_ms_ = std::max(static_cast<std::int64_t>(kTrimIntervalMs), 50 * (now_ms() - now));
      trims_.fetch_add(1, std::memory_order_relaxed);
      rss = read_rss().value_or(*rss);
      usage = std::min(usage, *rss);
    }
  }
  rss_.store(*rss, std::memory_order_relaxed);
  in_use_.store(usage, std::memory_order_relaxed);
  const bool was = shedding();
  const bool now = next_shedding(was, usage, budget());
  shedding_.store(now, std::memory_order_relaxed);
  return now != was;
}

}  // namespace portcullis::gateway::runtime
