#include "gateway/runtime/cpu_quota.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <thread>

namespace portcullis::gateway::runtime {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<std::int64_t> integer(std::string_view s) {
  s = trim(s);
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

std::optional<unsigned> ceil_ratio(std::int64_t quota, std::int64_t period) {
  if (quota <= 0 || period <= 0) {
    return std::nullopt;  // -1 (v1) or nonsense: no limit
  }
  const std::int64_t cpus = (quota + period - 1) / period;
  return static_cast<unsigned>(std::clamp<std::int64_t>(cpus, 1, 1 << 20));
}

std::optional<unsigned> smaller(std::optional<unsigned> a, std::optional<unsigned> b) {
  if (!a) {
    return b;
  }
  if (!b) {
    return a;
  }
  return std::min(*a, *b);
}

}  // namespace

std::optional<unsigned> parse_cpu_max(std::string_view text) {
  text = trim(text);
  const std::size_t sp = text.find(' ');
  if (sp == std::string_view::npos || text.substr(0, sp) == "max") {
    return std::nullopt;
  }
  const auto quota = integer(text.substr(0, sp));
  const auto period = integer(text.substr(sp + 1));
  if (!quota || !period) {
    return std::nullopt;
  }
  return ceil_ratio(*quota, *period);
}

std::optional<unsigned> cpus_from_quota(std::string_view quota_us, std::string_view period_us) {
  const auto quota = integer(quota_us);
  const auto period = integer(period_us);
  if (!quota || !period) {
    return std::nullopt;
  }
  return ceil_ratio(*quota, *period);
}

std::optional<unsigned> cgroup_cpu_limit(const std::string& root, std::string_view proc_cgroup) {
  std::string v2_path;
  std::string v1_path;
  bool v2 = false;
  bool v1 = false;
  std::istringstream lines{std::string(proc_cgroup)};
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("0::", 0) == 0) {
      v2 = true;
      v2_path = line.substr(3);
    } else if (const auto p = line.find(":cpu,cpuacct:"); p != std::string::npos) {
      v1 = true;
      v1_path = line.substr(p + 13);
    } else if (const auto q = line.find(":cpu:"); q != std::string::npos) {
      v1 = true;
      v1_path = line.substr(q + 5);
    }
  }
  if (v2) {
    std::optional<unsigned> limit;
    bool found = false;
    // From the process's cgroup up to the root: every ancestor's quota applies.
    for (std::string p = v2_path;;) {
      while (p.size() > 1 && p.back() == '/') {
        p.pop_back();
      }
      const std::string text = slurp(root + (p == "/" ? "" : p) + "/cpu.max");
      found = found || !text.empty();
      limit = smaller(limit, parse_cpu_max(text));
      if (p.empty() || p == "/") {
        break;
      }
      p.erase(p.rfind('/') == std::string::npos ? 0 : p.rfind('/'));
    }
    if (found) {
      return limit;
    }
  }
  if (v1) {
    for (const std::string& dir :
         {root + "/cpu,cpuacct" + v1_path, root + "/cpu" + v1_path, root + "/cpu,cpuacct",
          root + "/cpu"}) {
      const std::string quota = slurp(dir + "/cpu.cfs_quota_us");
      if (!quota.empty()) {
        return cpus_from_quota(quota, slurp(dir + "/cpu.cfs_period_us"));
      }
    }
  }
  return std::nullopt;
}

unsigned auto_workers(unsigned cpus, std::optional<unsigned> quota) noexcept {
  unsigned n = cpus;
  if (quota && *quota < n) {
    n = *quota;
  }
  return std::max(1u, n);
}

unsigned auto_workers() {
  unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
    cpus = static_cast<unsigned>(CPU_COUNT(&set));  // taskset / cpuset: fewer CPUs usable
  }
  return auto_workers(cpus, cgroup_cpu_limit("/sys/fs/cgroup", slurp("/proc/self/cgroup")));
}

}  // namespace portcullis::gateway::runtime
