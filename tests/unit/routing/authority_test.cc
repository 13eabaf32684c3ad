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

using portcullis::routing::is_host_name;
using portcullis::routing::parse_authority;
using portcullis::routing::parse_ip_literal;

TEST_CASE("parse_ip_literal: strict dotted quad and IPv6 text", "[authority]") {
  auto ip = parse_ip_literal("192.0.2.7");
  REQUIRE(ip);
  CHECK_FALSE(ip->v6);
  CHECK(ip->bytes[0] == 192);
  CHECK(ip->bytes[3] == 7);
  ip = parse_ip_literal("2001:DB8::1");
  REQUIRE(ip);
  CHECK(ip->v6);
  CHECK(ip->bytes[0] == 0x20);
  CHECK(ip->bytes[15] == 1);
  CHECK(parse_ip_literal("::ffff:127.0.0.1"));
  for (const char* bad : {"", "127.1", "0x7f.0.0.1", "010.0.0.1", "256.0.0.1", "1.2.3.4.",
                          "1.2.3", "fe80::1%eth0", "[::1]", "::g", "1:2:3:4:5:6:7:8:9",
                          "allowed.test", " 1.2.3.4"}) {
    INFO(bad);
    CHECK_FALSE(parse_ip_literal(bad));
  }
}

TEST_CASE("is_host_name: LDH labels, numeric last label only as a dotted quad", "[authority]") {
  CHECK(is_host_name("api.example.com"));
  CHECK(is_host_name("Xn--Bcher-kva.example"));
  CHECK(is_host_name("10.0.0.1"));
  CHECK(is_host_name("a1.b2"));
  for (const char* bad : {"", "a..b", "-a.b", "a-.b", "a_b.test", "a.b.", ".a", "127.1",
                          "0x7f000001", "a.0x1f", "exa mple.test", "a@b", "[x]"}) {
    INFO(bad);
    CHECK_FALSE(is_host_name(bad));
  }
  CHECK_FALSE(is_host_name(std::string(64, 'a') + ".test"));
}

TEST_CASE("parse_authority: brackets only around IPv6 literals", "[authority]") {
  auto a = parse_authority("Allowed.Test.:8443");
  REQUIRE(a);
  CHECK(a->host == "allowed.test");
  CHECK(a->port == std::optional<std::uint16_t>{8443});
  CHECK(a->trailing_dot);
  CHECK_FALSE(a->ip_literal);

  a = parse_authority("[2001:DB8::1]:443");
  REQUIRE(a);
  CHECK(a->host == "2001:db8::1");
  CHECK(a->ip_literal);

  a = parse_authority("192.0.2.1");
  REQUIRE(a);
  CHECK(a->ip_literal);
  CHECK_FALSE(a->port);

  for (const char* bad : {"[allowed.test]", "[allowed.test]:443", "[192.0.2.1]", "[]", "[::1",
                          "::1", "a_b.test", "127.1:80", "host:", "host:99999", ".", "",
                          "user@host", "[fe80::1%25eth0]"}) {
    INFO(bad);
    CHECK_FALSE(parse_authority(bad));
  }
}

TEST_CASE("parse_authority, HostRule::any: brackets still only around IPv6", "[authority]") {
  using portcullis::routing::HostRule;
  auto a = parse_authority("2130706433:443", HostRule::any);
  REQUIRE(a);
  CHECK(a->host == "2130706433");
  CHECK_FALSE(a->ip_literal);
  a = parse_authority("Api.Partner.Test.", HostRule::any);
  REQUIRE(a);
  CHECK(a->host == "api.partner.test");
  CHECK_FALSE(parse_authority("[api.partner.test]:443", HostRule::any));
  CHECK_FALSE(parse_authority("[127.0.0.1]", HostRule::any));
  CHECK(parse_authority("[::ffff:127.0.0.1]", HostRule::any));
}
