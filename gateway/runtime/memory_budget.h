// MemoryBudget: [limits].memory_budget, the process's resident memory past which new requests are
// shed (503, reason memory_budget) so that the kernel's OOM killer never takes the whole box, and
// every connection with it, down. Like Envoy's overload manager: a sampled gauge and one action.
//
// Thread:   sample() and configure() run on the main loop (a 250 ms timer); shedding() is one
//           relaxed atomic load, read by workers once per new request.
// The budget is charged with memory in use: malloc's in-use bytes (mallinfo2 uordblks + hblkhd)
// plus what was resident outside the heap at start (code, libraries, stacks), capped by RSS.
// RSS alone would not do: after a burst glibc keeps the freed memory, RSS stays high, and the
// gateway would shed forever with nothing left to shed. Shedding starts when that usage exceeds
// the budget and stops when it falls below 90% of it, so a process at the line does not flap.
// When RSS is far above the usage, sample() hands the freed memory back (malloc_trim), at most
// once per kTrimIntervalMs. With another allocator (mallinfo2 all zero) the usage is RSS.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

namespace portcullis::gateway::runtime {

// --- pure helpers (unit-tested) ---

// Resident bytes from the text of /proc/self/statm ("size resident shared ...").
std::optional<std::uint64_t> parse_statm_rss(std::string_view statm, std::uint64_t page_size);
// MemTotal in bytes from the text of /proc/meminfo.
std::optional<std::uint64_t> parse_meminfo_total(std::string_view meminfo);
// The memory limit of this process's cgroup from the text of a cgroup v2 memory.max ("max" or
// bytes) or v1 memory.limit_in_bytes (a huge number when unlimited). nullopt = no limit.
std::optional<std::uint64_t> parse_cgroup_limit(std::string_view text);
// "auto": 90% of the cgroup limit when there is one below physical memory, else of MemTotal.
std::uint64_t auto_budget(std::optional<std::uint64_t> cgroup_limit, std::uint64_t mem_total);

// The hysteresis: next shedding state for a sample of `usage` (budget_usage()).
bool next_shedding(bool shedding, std::uint64_t usage, std::uint64_t budget) noexcept;

// What the budget is charged: heap in use plus non-heap resident memory, never more than RSS.
std::uint64_t budget_usage(std::uint64_t rss, std::uint64_t heap_in_use,
                           std::uint64_t non_heap) noexcept;
// True when RSS holds enough freed memory above `usage` to be worth a malloc_trim: more than
// kTrimSlack bytes and more than half of the usage again.
inline constexpr std::uint64_t kTrimSlack = 8ULL << 20;
inline constexpr std::uint64_t kTrimIntervalMs = 2000;
bool worth_trimming(std::uint64_t rss, std::uint64_t usage) noexcept;

class MemoryBudget {
 public:
  // `configured`: config::Limits::memory_budget (bytes, 0 = off, kMemoryBudgetAuto = auto).
  void configure(std::uint64_t configured);
  // Reads RSS and malloc's in-use bytes, trims when worthwhile, updates shedding(). Returns
  // true when the shedding state changed.
  bool sample();

  bool shedding() const noexcept { return shedding_.load(std::memory_order_relaxed); }
  std::uint64_t budget() const noexcept { return budget_.load(std::memory_order_relaxed); }
  std::uint64_t rss() const noexcept { return rss_.load(std::memory_order_relaxed); }
  // The figure the budget is charged (budget_usage()).
  std::uint64_t in_use() const noexcept { return in_use_.load(std::memory_order_relaxed); }
  std::uint64_t trims() const noexcept { return trims_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> in_use_{0};
  std::atomic<std::uint64_t> trims_{0};
  // Main loop only.
  bool non_heap_known_ = false;
  std::uint64_t non_heap_ = 0;       // resident outside malloc's heap at the first sample
  std::int64_t last_trim_ms_ = -1;   // steady clock
  std::int64_t trim_gap_ms_ = kTrimIntervalMs;  // between trims
  std::int64_t next_heap_ms_ = 0;    // steady clock: mallinfo2 not before (sample())
  std::optional<std::uint64_t> last_heap_;  // mallinfo2's last figure, at RSS rss_at_heap_
  std::uint64_t rss_at_heap_ = 0;
  std::atomic<bool> shedding_{false};
  std::atomic<std::uint64_t> budget_{0};  // 0 = off
  std::atomic<std::uint64_t> rss_{0};
};

}  // namespace portcullis::gateway::runtime
