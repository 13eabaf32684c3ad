// load_isolating(): errors confined to one tenant file quarantine that tenant; errors anywhere
// else, or tenant_errors = "refuse", refuse the configuration as load() does.
#include <catch2/catch.hpp>

#include <string>

#include "gateway/config/config.h"
#include "tests/unit/config/tmp_dir.h"

namespace cfg = portcullis::gateway::config;
using portcullis::test::TmpDir;

namespace {

std::string gateway_toml(const std::string& gateway_extra) {
  return "[gateway]\ntenants_dir = \"tenants.d\"\n" + gateway_extra +
         "\n[[listener]]\nname = \"public\"\nkind = \"ingress\"\naddress = \"127.0.0.1:8443\"\n";
}

std::string tenant(const std::string& name, const std::string& host) {
  return portcullis::test::tenant_toml(name, "\"" + host + "\"");
}

void write_three(TmpDir& dir, const std::string& gateway_extra = {}) {
  dir.write("gateway.toml", gateway_toml(gateway_extra));
  dir.write("tenants.d/alpha.toml", tenant("alpha", "alpha.example"));
  // bravo: an unknown key and a route without a target (two errors, one file)
  dir.write("tenants.d/bravo.toml", tenant("bravo", "bravo.example") + "colour = \"red\"\n"
                                        "[[route]]\npath = \"/x\"\n");
  dir.write("tenants.d/charlie.toml", "name = \"charlie\"\nhosts = [\"charlie.example\"\n");
}

std::string dump(const cfg::LoadResult& r) {
  std::string s;
  for (const auto& d : r.diagnostics) {
    s += d.format() + "\n";
  }
  return s;
}

}  // namespace

TEST_CASE("tenant file errors quarantine that tenant and keep the others", "[config]") {
  TmpDir dir;
  write_three(dir);
  const auto strict = cfg::load(dir.path("gateway.toml"));
  CHECK_FALSE(strict.ok());  // load() (check's view) is unchanged: any error refuses

  const auto r = cfg::load_isolating(dir.path("gateway.toml"));
  INFO(dump(r));
  REQUIRE(r.ok());
  CHECK(r.diagnostics.size() == 3);  // every error is still reported
  const cfg::Config& c = *r.config;
  REQUIRE(c.tenants.size() == 1);
  CHECK(c.tenants[0].name == "alpha");
  REQUIRE(c.quarantined.size() == 2);
  CHECK(c.quarantined[0].name == "bravo");
  CHECK(c.quarantined[0].file == dir.path("tenants.d/bravo.toml"));
  CHECK(c.quarantined[0].hosts == std::vector<std::string>{"bravo.example"});
  CHECK(c.quarantined[0].errors == 2);
  CHECK(c.quarantined[0].error.find("bravo.toml:") != std::string::npos);
  // charlie does not parse: named after its file, hosts unknown
  CHECK(c.quarantined[1].name == "charlie");
  CHECK(c.quarantined[1].hosts.empty());
  CHECK(c.quarantined[1].error.find("TOML syntax") != std::string::npos);
  for (const auto& d : r.diagnostics) {
    CHECK(cfg::is_tenant_error(c, d));
  }
}

TEST_CASE("gateway.toml errors and tenant_errors = refuse still refuse as a whole", "[config]") {
  TmpDir dir;
  SECTION("an error in gateway.toml") {
    write_three(dir, "workers = -1\n");
  }
  SECTION("tenant_errors = \"refuse\"") {
    write_three(dir, "tenant_errors = \"refuse\"\n");
  }
  const auto r = cfg::load_isolating(dir.path("gateway.toml"));
  INFO(dump(r));
  CHECK_FALSE(r.ok());
}

TEST_CASE("tenant_errors accepts quarantine and refuse only", "[config]") {
  TmpDir dir;
  dir.write("gateway.toml", gateway_toml("tenant_errors = \"ignore\"\n"));
  dir.write("tenants.d/alpha.toml", tenant("alpha", "alpha.example"));
  const auto r = cfg::load_isolating(dir.path("gateway.toml"));
  CHECK_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].pos.line == 3);
  CHECK(r.diagnostics[0].accepted == "\"quarantine\", \"refuse\"");
  dir.write("gateway.toml", gateway_toml("tenant_errors = \"refuse\"\n"));
  const auto ok = cfg::load_isolating(dir.path("gateway.toml"));
  REQUIRE(ok.ok());
  CHECK(ok.config->gateway.tenant_errors == cfg::GatewaySection::TenantErrors::refuse);
}
