// routing::split_authority / normalize_host: the one authority parser.
#include <catch2/catch.hpp>

#include "routing/authority.h"

using portcullis::routing::normalize_host;
using portcullis::routing::split_authority;

TEST_CASE("authority: host, host:port, [v6], [v6]:port", "[authority]") {
  auto a = split_authority("Shop.Example:8443");
  REQUIRE(a);
  CHECK(a->host == "Shop.Example");
  CHECK(a->port == std::optional<std::uint16_t>{8443});
  CHECK_FALSE(a->bracketed);

  a = split_authority("shop.example");
  REQUIRE(a);
  CHECK(a->host == "shop.example");
  CHECK_FALSE(a->port);

  a = split_authority("[2001:db8::1]:443");
  REQUIRE(a);
  CHECK(a->host == "2001:db8::1");
  CHECK(a->port == std::optional<std::uint16_t>{443});
  CHECK(a->bracketed);

  a = split_authority("[::1]");
  REQUIRE(a);
  CHECK(a->host == "::1");
  CHECK_FALSE(a->port);

  a = split_authority("127.0.0.1:0");  // port 0 is returned; callers decide
  REQUIRE(a);
  CHECK(a->port == std::optional<std::uint16_t>{0});
  CHECK(split_authority("h:65535"));
}

TEST_CASE("authority: malformed forms are refused", "[authority]") {
  for (const char* bad : {"", ":443", "[]:443", "[::1", "[::1]443", "[::1]:", "::1", "2001:db8::1",
                          "host:", "host:65536", "host:123456", "host:8a", "host:-1", "host: 80",
                          "a:b:c"}) {
    INFO(bad);
    CHECK_FALSE(split_authority(bad));
  }
}

TEST_CASE("normalize_host: lower case, one trailing dot dropped", "[authority]") {
  CHECK(normalize_host("Shop.ACME.Example.") == "shop.acme.example");
  CHECK(normalize_host("shop.example") == "shop.example");
  CHECK(normalize_host("") == "");
  CHECK(normalize_host("ÄB") == "\xc3\x84" "b");  // ASCII only: bytes above 0x7f untouched
}
