// workers = 0: one worker per CPU the process may actually use: the CPUs of its affinity mask,
// capped by the cgroup's CPU quota (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us),
// rounded up, at least 1. A container started with --cpus 0.5 gets one worker, not one per
// host core.
//
// Thread: any (reads files; no state).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace portcullis::gateway::runtime {

// v2 cpu.max ("QUOTA PERIOD" or "max PERIOD"): CPUs, rounded up; nullopt for no limit.
std::optional<unsigned> parse_cpu_max(std::string_view text);
// v1: cpu.cfs_quota_us ("-1" = no limit) over cpu.cfs_period_us, rounded up.
std::optional<unsigned> cpus_from_quota(std::string_view quota_us, std::string_view period_us);
// The CPU limit of a process whose /proc/self/cgroup reads `proc_cgroup`, with the cgroup
// file systems mounted under `root` (normally /sys/fs/cgroup): v2, the smallest cpu.max from its
// cgroup up to the root (a parent's quota binds its children too), then the mount root (what a
// container sees); else v1's cpu controller.
std::optional<unsigned> cgroup_cpu_limit(const std::string& root, std::string_view proc_cgroup);
// min(cpus, quota), at least 1.
unsigned auto_workers(unsigned cpus, std::optional<unsigned> quota) noexcept;
// For this process: affinity CPUs and /sys/fs/cgroup.
unsigned auto_workers();

}  // namespace portcullis::gateway::runtime
