// load_isolating() with the running configuration (a full reload): a tenant file whose stat
// identity is unchanged, under the very gateway.toml the running configuration read, is not
// parsed again: its tenant is the running object (one copy in memory). A changed file, a
// changed gateway.toml, or a name or host another file now claims: parsed as ever.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "gateway/config/config.h"
#include "tests/unit/config/tmp_dir.h"

namespace cfg = portcullis::gateway::config;
using portcullis::test::TmpDir;

namespace {

std::string tenant(const std::string& name, const std::string& hosts) {
  return portcullis::test::tenant_toml(name, hosts);
}

const char* kGateway =
    "[gateway]\ntenants_dir = \"tenants.d\"\n[[listener]]\nname = \"public\"\n"
    "kind = \"ingress\"\naddress = \"127.0.0.1:8443\"\n";

// A file read in the second it was written is not trusted by its stat identity (file times
// move by the kernel's tick): the tests let their files settle first.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(1100)); }

cfg::Config load(const TmpDir& dir, const cfg::Config* previous) {
  auto r = cfg::load_isolating(dir.path("gateway.toml"), previous);
  REQUIRE(r.ok());
  return std::move(*r.config);
}

}  // namespace

TEST_CASE("a full reload takes unchanged tenant files as they are", "[config][reload]") {
  TmpDir dir;
  dir.write("gateway.toml", kGateway);
  for (const char* n : {"a", "b", "c"}) {
    dir.write(std::string("tenants.d/") + n + ".toml",
              tenant(n, std::string("\"") + n + ".example\""));
  }
  settle();
  const cfg::Config first = load(dir, nullptr);
  REQUIRE(first.tenants.size() == 3);

  const cfg::Config second = load(dir, &first);
  REQUIRE(second.tenants.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(second.tenants.same(i, &first.tenants[i]));
  }

  // b changed: b alone is parsed; the next reload shares the new b
  dir.write("tenants.d/b.toml", tenant("b", "\"b.example\", \"b2.example\""));
  settle();
  const cfg::Config third = load(dir, &second);
  REQUIRE(third.tenants.size() == 3);
  CHECK(third.tenants.same(0, &second.tenants[0]));
  CHECK_FALSE(third.tenants.same(1, &second.tenants[1]));
  CHECK(third.tenants[1].hosts.size() == 2);
  CHECK(third.tenants.same(2, &second.tenants[2]));
  const cfg::Config fourth = load(dir, &third);
  CHECK(fourth.tenants.same(1, &third.tenants[1]));

  // gateway.toml rewritten (same bytes, new identity): every tenant parsed again
  dir.write("gateway.toml", kGateway);
  const cfg::Config fifth = load(dir, &fourth);
  REQUIRE(fifth.tenants.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK_FALSE(fifth.tenants.same(i, &fourth.tenants[i]));
    CHECK(fifth.tenants[i].name == fourth.tenants[i].name);
  }
}

TEST_CASE("a tenant file read in the second it changed is read again", "[config][reload]") {
  TmpDir dir;
  dir.write("gateway.toml", kGateway);
  settle();
  dir.write("tenants.d/a.toml", tenant("a", "\"a.example\""));
  const cfg::Config first = load(dir, nullptr);  // a.toml is fresh: its identity not trusted
  const cfg::Config second = load(dir, &first);
  CHECK_FALSE(second.tenants.same(0, &first.tenants[0]));
  settle();  // now read a second after its change: trusted next time
  const cfg::Config third = load(dir, &second);
  const cfg::Config fourth = load(dir, &third);
  CHECK(fourth.tenants.same(0, &third.tenants[0]));
}

TEST_CASE("an unchanged tenant whose host a new file claims first is parsed and judged",
          "[config][reload]") {
  TmpDir dir;
  dir.write("gateway.toml", kGateway);
  dir.write("tenants.d/b.toml", tenant("b", "\"b.example\""));
  dir.write("tenants.d/c.toml", tenant("c", "\"c.example\""));
  settle();
  const cfg::Config first = load(dir, nullptr);

  // a.toml sorts first and claims b's host: as without sharing, b (read after it) has the
  // error and is quarantined; c is shared
  dir.write("tenants.d/a.toml", tenant("a", "\"b.example\""));
  auto r = cfg::load_isolating(dir.path("gateway.toml"), &first);
  REQUIRE(r.ok());
  const cfg::Config& now = *r.config;
  REQUIRE(now.tenants.size() == 2);
  CHECK(now.tenants[0].name == "a");
  CHECK(now.tenants[1].name == "c");
  CHECK(now.tenants.same(1, &first.tenants[1]));
  REQUIRE(now.quarantined.size() == 1);
  CHECK(now.quarantined[0].name == "b");
  bool said = false;
  for (const auto& d : r.diagnostics) {
    said = said || (d.pos.file == first.tenants[0].file &&
                    d.message.find("already claimed by tenant \"a\"") != std::string::npos);
  }
  CHECK(said);
}
