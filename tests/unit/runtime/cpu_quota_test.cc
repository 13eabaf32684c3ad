// workers = 0 and the cgroup CPU quota: parsing, and the lookup on sample cgroup trees.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gateway/runtime/cpu_quota.h"

namespace rt = portcullis::gateway::runtime;
namespace fs = std::filesystem;

namespace {

struct Tree {
  std::string root;
  Tree() {
    char tmpl[] = "/tmp/cpu-quota-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    root = tmpl;
  }
  ~Tree() { fs::remove_all(root); }
  void file(const std::string& rel, const std::string& text) const {
    fs::create_directories(fs::path(root + rel).parent_path());
    std::ofstream(root + rel) << text;
  }
};

}  // namespace

TEST_CASE("cpu.max: quota over period, rounded up; max is no limit", "[cpu]") {
  CHECK_FALSE(rt::parse_cpu_max("max 100000\n"));
  CHECK(rt::parse_cpu_max("50000 100000\n") == 1u);   // --cpus 0.5
  CHECK(rt::parse_cpu_max("100000 100000\n") == 1u);
  CHECK(rt::parse_cpu_max("150000 100000\n") == 2u);  // 1.5 -> 2
  CHECK(rt::parse_cpu_max("400000 100000") == 4u);
  CHECK_FALSE(rt::parse_cpu_max(""));
  CHECK_FALSE(rt::parse_cpu_max("garbage"));
  CHECK_FALSE(rt::parse_cpu_max("0 100000"));
}

TEST_CASE("v1 cfs quota: -1 is no limit", "[cpu]") {
  CHECK_FALSE(rt::cpus_from_quota("-1\n", "100000\n"));
  CHECK(rt::cpus_from_quota("50000\n", "100000\n") == 1u);
  CHECK(rt::cpus_from_quota("250000\n", "100000\n") == 3u);
  CHECK_FALSE(rt::cpus_from_quota("", ""));
}

TEST_CASE("auto workers: the smaller of CPUs and quota, at least 1", "[cpu]") {
  CHECK(rt::auto_workers(8, std::nullopt) == 8u);
  CHECK(rt::auto_workers(8, 2u) == 2u);
  CHECK(rt::auto_workers(2, 6u) == 2u);
  CHECK(rt::auto_workers(0, std::nullopt) == 1u);
}

TEST_CASE("cgroup v2: the process's cgroup and its ancestors", "[cpu]") {
  Tree t;
  t.file("/cpu.max", "max 100000\n");
  t.file("/system.slice/cpu.max", "300000 100000\n");
  t.file("/system.slice/portcullis.service/cpu.max", "max 100000\n");
  // A parent's quota binds the service.
  CHECK(rt::cgroup_cpu_limit(t.root, "0::/system.slice/portcullis.service\n") == 3u);
  t.file("/system.slice/portcullis.service/cpu.max", "50000 100000\n");
  CHECK(rt::cgroup_cpu_limit(t.root, "0::/system.slice/portcullis.service\n") == 1u);
  // A container: its own cgroup is the mount root.
  Tree c;
  c.file("/cpu.max", "150000 100000\n");
  CHECK(rt::cgroup_cpu_limit(c.root, "0::/\n") == 2u);
  // No limit anywhere.
  Tree n;
  n.file("/cpu.max", "max 100000\n");
  CHECK_FALSE(rt::cgroup_cpu_limit(n.root, "0::/user.slice\n"));
}

TEST_CASE("cgroup v1: the cpu controller's cfs quota", "[cpu]") {
  Tree t;
  t.file("/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
  t.file("/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  CHECK(rt::cgroup_cpu_limit(t.root, "5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n") == 1u);
  Tree u;
  u.file("/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  u.file("/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  CHECK_FALSE(rt::cgroup_cpu_limit(u.root, "5:cpu,cpuacct:/\n"));
}
