// load() with enough tenant files to be read on several threads (toml_loader.cc): the files are
// validated in name order whatever thread parsed them, so checks across files and the
// diagnostics come out as one thread would give them.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "gateway/config/config.h"
#include "tests/unit/config/tmp_dir.h"

namespace cfg = portcullis::gateway::config;
using portcullis::test::TmpDir;

namespace {

std::string name_of(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "t%04d", i);
  return buf;
}

std::string tenant(const std::string& name, const std::string& host) {
  return portcullis::test::tenant_toml(name, "\"" + host + "\"");
}

}  // namespace

TEST_CASE("thousands of tenant files load in name order with their diagnostics in order",
          "[config]") {
  TmpDir dir;
  dir.write("gateway.toml",
            "[gateway]\ntenants_dir = \"tenants.d\"\n[[listener]]\nname = \"public\"\n"
            "kind = \"ingress\"\naddress = \"127.0.0.1:8443\"\n");
  constexpr int kTenants = 2100;  // more than one parse batch (2048 files)
  for (int i = 0; i < kTenants; ++i) {
    const std::string n = name_of(i);
    std::string text = tenant(n, n + ".example");
    if (i == 1000) {
      text = tenant(n, name_of(2090) + ".example");  // claims a later batch's host
    } else if (i == 1500) {
      text = "name = \"" + n + "\"\nhosts = [\"x.example\"\n";  // TOML syntax error
    } else if (i == 2099) {
      text = tenant(name_of(10), n + ".example");  // a name already used
    }
    dir.write("tenants.d/" + n + ".toml", text);
  }

  const auto r = cfg::load(dir.path("gateway.toml"));
  REQUIRE_FALSE(r.ok());
  std::vector<std::string> got;
  for (const auto& d : r.diagnostics) {
    got.push_back(d.format());
  }
  const std::string td = dir.path("tenants.d") + "/";
  REQUIRE(got.size() == 3);
  CHECK(got[0].starts_with(td + "t1500.toml:"));
  CHECK(got[0].find("TOML syntax") != std::string::npos);
  // t1000 was validated before t2090, so the later file is the one told the host is taken.
  CHECK(got[1].starts_with(td + "t2090.toml:2:"));
  CHECK(got[1].find("host \"t2090.example\" is already claimed by tenant \"t1000\" in " + td +
                    "t1000.toml:2:") != std::string::npos);
  CHECK(got[2].starts_with(td + "t2099.toml:1:"));
  CHECK(got[2].find("is already used by " + td + "t0010.toml") != std::string::npos);
}

TEST_CASE("thousands of valid tenant files load, sorted by name", "[config]") {
  TmpDir dir;
  dir.write("gateway.toml",
            "[gateway]\ntenants_dir = \"tenants.d\"\n[[listener]]\nname = \"public\"\n"
            "kind = \"ingress\"\naddress = \"127.0.0.1:8443\"\n");
  constexpr int kTenants = 300;  // above the 64 files that one thread reads alone
  for (int i = 0; i < kTenants; ++i) {
    const std::string n = name_of(kTenants - 1 - i);  // written in reverse order
    dir.write("tenants.d/" + n + ".toml", tenant(n, n + ".example"));
  }
  const auto r = cfg::load(dir.path("gateway.toml"));
  REQUIRE(r.ok());
  REQUIRE(r.config->tenants.size() == static_cast<std::size_t>(kTenants));
  for (int i = 0; i < kTenants; ++i) {
    const cfg::TenantConfig& t = r.config->tenants[static_cast<std::size_t>(i)];
    REQUIRE(t.name == name_of(i));
    REQUIRE(t.file == dir.path("tenants.d") + "/" + name_of(i) + ".toml");
    REQUIRE(t.hosts == std::vector<std::string>{name_of(i) + ".example"});
  }
}
