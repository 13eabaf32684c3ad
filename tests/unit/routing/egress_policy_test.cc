#include <catch2/catch.hpp>

#include "routing/egress_policy.h"

using portcullis::routing::EgressPolicy;
using portcullis::routing::EgressRule;
using portcullis::routing::looks_like_ip_literal;

namespace {

constexpr const char* kBilling = "spiffe://mesh.example/ns/acme/sa/billing";
constexpr const char* kOther = "spiffe://mesh.example/ns/acme/sa/other";

EgressPolicy sample() {
  EgressPolicy p;
  p.add(EgressRule{"api.partner.example", 443, {kBilling}, 0});
  p.add(EgressRule{"*.cdn.example", 443, {"*"}, 1});
  p.add(EgressRule{"special.cdn.example", 443, {kBilling}, 2});
  p.add(EgressRule{"10.1.2.3", 8443, {kBilling}, 3});
  p.add(EgressRule{"[fd00::1]", 443, {kBilling}, 4});
  return p;
}

}  // namespace

TEST_CASE("looks_like_ip_literal catches every IPv4 spelling", "[egress]") {
  CHECK(looks_like_ip_literal("127.0.0.1"));
  CHECK(looks_like_ip_literal("127.0.0.1."));
  CHECK(looks_like_ip_literal("2130706433"));
  CHECK(looks_like_ip_literal("0177.0.0.1"));
  CHECK(looks_like_ip_literal("0x7f.1"));
  CHECK(looks_like_ip_literal("0X7F.0.0.1"));
  CHECK(looks_like_ip_literal("0x7f000001"));
  CHECK(looks_like_ip_literal("127.1"));
  CHECK(looks_like_ip_literal("0"));
  CHECK(looks_like_ip_literal("0x"));
}

TEST_CASE("looks_like_ip_literal catches IPv6 spellings", "[egress]") {
  CHECK(looks_like_ip_literal("::1"));
  CHECK(looks_like_ip_literal("[::1]"));
  CHECK(looks_like_ip_literal("::ffff:127.0.0.1"));
  CHECK(looks_like_ip_literal("[::ffff:7f00:1]"));
  CHECK(looks_like_ip_literal("fe80::1%eth0"));
  CHECK(looks_like_ip_literal("[fe80::1%25eth0]"));
  CHECK(looks_like_ip_literal("2001:db8::1"));
}

TEST_CASE("looks_like_ip_literal lets host names through", "[egress]") {
  CHECK_FALSE(looks_like_ip_literal(""));
  CHECK_FALSE(looks_like_ip_literal("api.partner.example"));
  CHECK_FALSE(looks_like_ip_literal("localhost"));
  CHECK_FALSE(looks_like_ip_literal("1.2.3.example"));
  CHECK_FALSE(looks_like_ip_literal("0xfoo.example"));
  CHECK_FALSE(looks_like_ip_literal("123abc"));
  CHECK_FALSE(looks_like_ip_literal("deadbeef"));
}

TEST_CASE("EgressPolicy default deny", "[egress]") {
  EgressPolicy p;
  auto d = p.decide(kBilling, "api.partner.example", 443);
  CHECK_FALSE(d.allow);
  CHECK(d.reason == "destination_not_listed");
  CHECK_FALSE(d.rule.has_value());
}

TEST_CASE("EgressPolicy exact host, identity and port", "[egress]") {
  EgressPolicy p = sample();
  auto ok = p.decide(kBilling, "API.Partner.Example.", 443);
  CHECK(ok.allow);
  CHECK(ok.reason == "allowed");
  CHECK(ok.rule == 0u);

  auto wrong_id = p.decide(kOther, "api.partner.example", 443);
  CHECK_FALSE(wrong_id.allow);
  CHECK(wrong_id.reason == "identity_not_allowed");
  CHECK(wrong_id.rule == 0u);

  auto wrong_port = p.decide(kBilling, "api.partner.example", 80);
  CHECK_FALSE(wrong_port.allow);
  CHECK(wrong_port.reason == "destination_not_listed");

  auto empty_id = p.decide("", "api.partner.example", 443);
  CHECK_FALSE(empty_id.allow);
}

TEST_CASE("EgressPolicy wildcard matches one label; exact shadows it", "[egress]") {
  EgressPolicy p = sample();
  auto a = p.decide(kOther, "img.cdn.example", 443);
  CHECK(a.allow);
  CHECK(a.rule == 1u);
  CHECK_FALSE(p.decide(kOther, "a.b.cdn.example", 443).allow);
  CHECK(p.decide(kOther, "a.b.cdn.example", 443).reason == "destination_not_listed");
  CHECK_FALSE(p.decide(kOther, "cdn.example", 443).allow);
  auto s = p.decide(kOther, "special.cdn.example", 443);
  CHECK_FALSE(s.allow);
  CHECK(s.reason == "identity_not_allowed");
  CHECK(s.rule == 2u);
  CHECK(p.decide(kBilling, "special.cdn.example", 443).allow);
}

TEST_CASE("EgressPolicy denies IP literals unless named exactly", "[egress]") {
  EgressPolicy p = sample();
  for (const char* spelling : {"127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.1", "0x7f000001",
                               "127.1", "::1", "[::1]", "::ffff:127.0.0.1", "fe80::1%eth0",
                               "0x0a.1.2.3", "167838211", "10.1.515"}) {
    INFO(spelling);
    auto d = p.decide(kBilling, spelling, 8443);
    CHECK_FALSE(d.allow);
    CHECK(d.reason == "ip_literal");
  }
  auto named = p.decide(kBilling, "10.1.2.3", 8443);
  CHECK(named.allow);
  CHECK(named.rule == 3u);
  auto named_wrong_id = p.decide(kOther, "10.1.2.3", 8443);
  CHECK_FALSE(named_wrong_id.allow);
  CHECK(named_wrong_id.reason == "identity_not_allowed");
  CHECK(p.decide(kBilling, "10.1.2.3", 443).reason == "ip_literal");
  CHECK(p.decide(kBilling, "fd00::1", 443).allow);
  CHECK(p.decide(kBilling, "[FD00::1]", 443).allow);
  CHECK(p.decide(kBilling, "[fd00::0:1]", 443).reason == "ip_literal");
}
