// MemoryBudget: [limits].memory_budget, the process's resident memory past which new requests are
// shed (503, reason memory_budget) so that the kernel's OOM killer never takes the whole box, and
// every connection with it, down. Like Envoy's overload manager: a sampled gauge and one action.
//
// Thread:   sample() and configure() run on the main loop (a 250 ms timer); shedding() is one
//           relaxed atomic load, read by workers once per new request.
// Shedding starts when RSS exceeds the budget and stops when it falls below 90% of it, so a
// process that hovers at the line does not flap.
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

// The hysteresis: next shedding state for a sample.
bool next_shedding(bool shedding, std::uint64_t rss, std::uint64_t budget) noexcept;

class MemoryBudget {
 public:
  // `configured`: config::Limits::memory_budget (bytes, 0 = off, kMemoryBudgetAuto = auto).
  void configure(std::uint64_t configured);
  // Reads RSS and updates shedding(). Returns true when the shedding state changed.
  bool sample();

  bool shedding() const noexcept { return shedding_.load(std::memory_order_relaxed); }
  std::uint64_t budget() const noexcept { return budget_.load(std::memory_order_relaxed); }
  std::uint64_t rss() const noexcept { return rss_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> shedding_{false};
  std::atomic<std::uint64_t> budget_{0};  // 0 = off
  std::atomic<std::uint64_t> rss_{0};
};

}  // namespace portcullis::gateway::runtime
