#include <catch2/catch.hpp>

#include <string>

#include "routing/host_table.h"

using portcullis::routing::HostTable;

TEST_CASE("HostTable exact names are case-insensitive and ignore a trailing dot", "[host_table]") {
  HostTable t;
  REQUIRE(t.add("shop.acme.example", 1));
  CHECK(t.find("shop.acme.example") == 1u);
  CHECK(t.find("SHOP.Acme.Example") == 1u);
  CHECK(t.find("shop.acme.example.") == 1u);
  CHECK_FALSE(t.find("acme.example").has_value());
  CHECK_FALSE(t.find("").has_value());
  CHECK_FALSE(t.find(".").has_value());
}

TEST_CASE("HostTable refuses a duplicate pattern", "[host_table]") {
  HostTable t;
  REQUIRE(t.add("a.example", 1));
  CHECK_FALSE(t.add("A.EXAMPLE.", 2));
  REQUIRE(t.add("*.example", 3));
  CHECK_FALSE(t.add("*.Example", 4));
  CHECK(t.find("a.example") == 1u);
  CHECK(t.size() == 2);
  CHECK(t.find_pattern("*.example") == 3u);
  CHECK_FALSE(t.find_pattern("*.a.example").has_value());
}

TEST_CASE("HostTable wildcard matches exactly one label", "[host_table]") {
  HostTable t;
  REQUIRE(t.add("*.acme.example", 7));
  CHECK(t.find("a.acme.example") == 7u);
  CHECK(t.find("A.ACME.EXAMPLE.") == 7u);
  CHECK_FALSE(t.find("a.b.acme.example").has_value());
  CHECK_FALSE(t.find("acme.example").has_value());
  CHECK_FALSE(t.find(".acme.example").has_value());
}

TEST_CASE("HostTable exact name wins over wildcard", "[host_table]") {
  HostTable t;
  REQUIRE(t.add("*.acme.example", 1));
  REQUIRE(t.add("special.acme.example", 2));
  CHECK(t.find("special.acme.example") == 2u);
  CHECK(t.find("other.acme.example") == 1u);
}

TEST_CASE("HostTable valid_pattern", "[host_table]") {
  std::string why;
  CHECK(HostTable::valid_pattern("shop.acme.example", &why));
  CHECK(HostTable::valid_pattern("*.acme.example", &why));
  CHECK(HostTable::valid_pattern("localhost", &why));
  CHECK(HostTable::valid_pattern("a-b.example.", &why));
  CHECK_FALSE(HostTable::valid_pattern("", &why));
  CHECK_FALSE(HostTable::valid_pattern("a..b", &why));
  CHECK_FALSE(HostTable::valid_pattern("-a.example", &why));
  CHECK_FALSE(HostTable::valid_pattern("a-.example", &why));
  CHECK_FALSE(HostTable::valid_pattern("a_b.example", &why));
  CHECK_FALSE(HostTable::valid_pattern("a*.example", &why));
  CHECK_FALSE(HostTable::valid_pattern("a.*.example", &why));
  CHECK_FALSE(HostTable::valid_pattern("*.com", &why));
  CHECK_FALSE(HostTable::valid_pattern("*", &why));
  CHECK_FALSE(HostTable::valid_pattern("**.example.com", &why));
  CHECK_FALSE(HostTable::valid_pattern(std::string(64, 'a') + ".example", &why));
  CHECK(HostTable::valid_pattern(std::string(63, 'a') + ".example", &why));
  std::string long_name;
  for (int i = 0; i < 50; ++i) {
    long_name += "abcd.";
  }
  long_name += "com";  // 253
  CHECK(HostTable::valid_pattern(long_name, &why));
  CHECK_FALSE(HostTable::valid_pattern("a" + long_name, &why));
  CHECK_FALSE(why.empty());
  CHECK_FALSE(HostTable::valid_pattern("a b", nullptr));
}

TEST_CASE("HostTable with 100k names", "[host_table][scale]") {
  HostTable t;
  constexpr std::uint32_t kCount = 100000;
  for (std::uint32_t i = 0; i < kCount; ++i) {
    REQUIRE(t.add("host" + std::to_string(i) + ".tenant" + std::to_string(i % 1000) + ".example", i));
    if (i % 100 == 0) {
      REQUIRE(t.add("*.wild" + std::to_string(i) + ".example", i + kCount));
    }
  }
  CHECK(t.size() == kCount + kCount / 100);
  std::uint32_t hits = 0;
  for (std::uint32_t i = 0; i < kCount; ++i) {
    auto found = t.find("HOST" + std::to_string(i) + ".tenant" + std::to_string(i % 1000) +
                        ".example");
    if (found && *found == i) {
      ++hits;
    }
  }
  CHECK(hits == kCount);
  CHECK(t.find("x.wild500.example") == 500u + kCount);
  CHECK_FALSE(t.find("x.wild501.example").has_value());
  CHECK_FALSE(t.find("host1.tenant2.example").has_value());
}
