// SniTable: host lookups (exact, one-label wildcard, case, trailing dot) and its persistence
// across generations (with_same_hosts shares the shards; a change copies only the shards it
// touches and never shows in the table it came from).
#include <string>

#include <catch2/catch.hpp>

#include "tls/sni.h"

namespace portcullis::tls {
namespace {

TenantTls entry(std::uint32_t i) {
  TenantTls t;
  t.tenant = i;
  return t;
}

std::uint32_t found(const SniTable& t, const std::string& name) {
  const TenantTls* e = t.find(name);
  return e == nullptr ? 999 : e->tenant;
}

TEST_CASE("SniTable: exact names first, then a one-label wildcard", "[sni_table]") {
  SniTable t;
  t.add_tenant(entry(0));
  t.add_tenant(entry(1));
  REQUIRE(t.add_host("shop.acme.example", 0));
  REQUIRE(t.add_host("*.acme.example", 1));
  CHECK_FALSE(t.add_host("SHOP.acme.example.", 1));  // the same name, normalised
  CHECK(found(t, "shop.acme.example") == 0);
  CHECK(found(t, "Shop.ACME.example.") == 0);
  CHECK(found(t, "api.acme.example") == 1);
  CHECK(found(t, "a.b.acme.example") == 999);  // one label only
  CHECK(found(t, "acme.example") == 999);
  CHECK(found(t, "") == 999);
  CHECK(t.owner("*.ACME.example") == 1u);
  CHECK(t.owner("api.acme.example") == std::nullopt);  // patterns, not lookups
}

TEST_CASE("SniTable: the next generation shares names; a change copies only its shards",
          "[sni_table]") {
  SniTable a;
  constexpr std::uint32_t kTenants = 5000;
  for (std::uint32_t i = 0; i < kTenants; ++i) {
    a.add_tenant(entry(i));
    REQUIRE(a.add_host("t" + std::to_string(i) + ".example", i));
  }
  SniTable b = a.with_same_hosts();
  CHECK(b.tenants() == 0);
  for (std::uint32_t i = 0; i < kTenants; ++i) {
    b.add_tenant(entry(i));
  }
  const std::size_t all = a.shards_shared_with(b);
  CHECK(all > 900);  // 5000 names over 1024 shards: nearly all in use, all shared

  // Tenant 7 trades its name for another; tenant 8 cannot take tenant 9's.
  b.remove_host("t7.example", 7);
  REQUIRE(b.add_host("renamed.example", 7));
  CHECK_FALSE(b.add_host("t9.example", 8));
  b.remove_host("t9.example", 8);  // not 8's: nothing happens
  CHECK(all - a.shards_shared_with(b) <= 2);  // only the touched shards were copied

  CHECK(found(b, "renamed.example") == 7);
  CHECK(found(b, "t7.example") == 999);
  CHECK(found(b, "t9.example") == 9);
  // The running generation is untouched.
  CHECK(found(a, "t7.example") == 7);
  CHECK(found(a, "renamed.example") == 999);
  for (std::uint32_t i = 0; i < kTenants; i += 97) {
    CHECK(found(a, "t" + std::to_string(i) + ".example") == i);
    CHECK(found(b, "t" + std::to_string(i) + ".example") == (i == 7 ? 999u : i));
  }
}

}  // namespace
}  // namespace portcullis::tls
