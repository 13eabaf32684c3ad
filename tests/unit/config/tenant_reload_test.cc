// reload_tenant_files(): the tenants of the files read again replace theirs in place (every
// other tenant the previous generation's very object, no index moved) when each file still
// holds the tenant it held; a renamed, added or quarantined tenant takes the merge, with the
// same result as a full load.
#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/config/config.h"
#include "gateway/config/tenant_reload.h"
#include "tests/unit/config/tmp_dir.h"

namespace cfg = portcullis::gateway::config;
using portcullis::test::TmpDir;

namespace {

std::string tenant(const std::string& name, const std::string& hosts) {
  return portcullis::test::tenant_toml(name, hosts);
}

// Four tenants a, b, c, d (hosts NAME.example), loaded as the running generation.
cfg::Config running(const TmpDir& dir) {
  dir.write("gateway.toml",
            "[gateway]\ntenants_dir = \"tenants.d\"\n[[listener]]\nname = \"public\"\n"
            "kind = \"ingress\"\naddress = \"127.0.0.1:8443\"\n");
  for (const char* n : {"a", "b", "c", "d"}) {
    dir.write(std::string("tenants.d/") + n + ".toml",
              tenant(n, std::string("\"") + n + ".example\""));
  }
  auto r = cfg::load_isolating(dir.path("gateway.toml"));
  REQUIRE(r.ok());
  return std::move(*r.config);
}

// Who holds a host in `c` (what the running SNI table answers in the gateway).
cfg::HostOwner owner_in(const cfg::Config& c) {
  return [&c](std::string_view pattern) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < c.tenants.size(); ++i) {
      for (const auto& h : c.tenants[i].hosts) {
        if (h == pattern) {
          return i;
        }
      }
    }
    return std::nullopt;
  };
}

}  // namespace

TEST_CASE("a tenant file read again replaces its tenant in place", "[config][reload]") {
  TmpDir dir;
  const cfg::Config prev = running(dir);
  const std::string b = prev.tenants[1].file;
  dir.write("tenants.d/b.toml", tenant("b", "\"b.example\", \"b2.example\""));

  const auto r = cfg::reload_tenant_files(prev, {b}, owner_in(prev));
  REQUIRE(r.ok());
  const auto& ts = std::as_const(r.config->tenants);
  REQUIRE(ts.size() == 4);
  CHECK(ts.same(0, &prev.tenants[0]));
  CHECK_FALSE(ts.same(1, &prev.tenants[1]));
  CHECK(ts.same(2, &prev.tenants[2]));
  CHECK(ts.same(3, &prev.tenants[3]));
  CHECK(ts[1].name == "b");
  CHECK(ts[1].file == b);
  CHECK(ts[1].hosts == std::vector<std::string>{"b.example", "b2.example"});
  CHECK(prev.tenants[1].hosts == std::vector<std::string>{"b.example"});  // untouched
  CHECK(r.config->quarantined.empty());
}

TEST_CASE("a tenant file that now holds another name is merged in name order",
          "[config][reload]") {
  TmpDir dir;
  const cfg::Config prev = running(dir);
  const std::string b = prev.tenants[1].file;
  dir.write("tenants.d/b.toml", tenant("e", "\"e.example\""));

  const auto r = cfg::reload_tenant_files(prev, {b}, owner_in(prev));
  REQUIRE(r.ok());
  const auto& ts = std::as_const(r.config->tenants);
  REQUIRE(ts.size() == 4);
  CHECK(ts[0].name == "a");
  CHECK(ts[1].name == "c");
  CHECK(ts[2].name == "d");
  CHECK(ts[3].name == "e");
  CHECK(ts[3].file == b);
  CHECK(ts.same(0, &prev.tenants[0]));
  CHECK(ts.same(1, &prev.tenants[2]));
  CHECK(ts.same(2, &prev.tenants[3]));
}

TEST_CASE("a tenant file read again that claims another's host is quarantined, not replaced",
          "[config][reload]") {
  TmpDir dir;
  const cfg::Config prev = running(dir);
  const std::string b = prev.tenants[1].file;
  dir.write("tenants.d/b.toml", tenant("b", "\"c.example\""));

  const auto r = cfg::reload_tenant_files(prev, {b}, owner_in(prev));
  REQUIRE(r.ok());
  const auto& ts = std::as_const(r.config->tenants);
  REQUIRE(ts.size() == 3);
  CHECK(ts[0].name == "a");
  CHECK(ts[1].name == "c");
  CHECK(ts[2].name == "d");
  REQUIRE(r.config->quarantined.size() == 1);
  CHECK(r.config->quarantined[0].file == b);
}

TEST_CASE("a tenant file removed takes its tenant out", "[config][reload]") {
  TmpDir dir;
  const cfg::Config prev = running(dir);
  const std::string c = prev.tenants[2].file;
  std::filesystem::remove(c);

  const auto r = cfg::reload_tenant_files(prev, {c}, owner_in(prev));
  REQUIRE(r.ok());
  const auto& ts = std::as_const(r.config->tenants);
  REQUIRE(ts.size() == 3);
  CHECK(ts[2].name == "d");
  CHECK(ts.same(2, &prev.tenants[3]));
}
