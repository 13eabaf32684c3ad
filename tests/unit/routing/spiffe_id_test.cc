#include <catch2/catch.hpp>

#include <string>

#include "routing/spiffe_id.h"

using portcullis::routing::in_namespace;
using portcullis::routing::parse_spiffe_id;

TEST_CASE("parse_spiffe_id accepts well-formed IDs", "[spiffe]") {
  auto id = parse_spiffe_id("spiffe://mesh.example/ns/acme/sa/api");
  REQUIRE(id.has_value());
  CHECK(id->trust_domain == "mesh.example");
  CHECK(id->path == "/ns/acme/sa/api");
  CHECK(id->to_string() == "spiffe://mesh.example/ns/acme/sa/api");
  CHECK(parse_spiffe_id("spiffe://td/x").has_value());
  CHECK(parse_spiffe_id("spiffe://my_td-1.example/A.b-c_d").has_value());
}

TEST_CASE("parse_spiffe_id rejects malformed IDs", "[spiffe]") {
  CHECK_FALSE(parse_spiffe_id("").has_value());
  CHECK_FALSE(parse_spiffe_id("spiffe://").has_value());
  CHECK_FALSE(parse_spiffe_id("spiffe://td").has_value());
  CHECK_FALSE(parse_spiffe_id("spiffe://td/").has_value());
  CHECK_FALSE(parse_spiffe_id("spiffe:///path").has_value());
  CHECK_FALSE(parse_spiffe_id("SPIFFE://td/path").has_value());
  CHECK_FALSE(parse_spiffe_id("https://td/path").has_value());
  CHECK_FALSE(parse_spiffe_id("spiffe://TD/path").has_value());
  CHECK_FALSE(parse_spiffe_id("spiffe://td:443/path").has_value());
  CHECK_FALSE(parse_spiffe_id("spiffe://user@td/path").has_value());
  CHECK_FALSE(parse_spiffe_id("spiffe://td/path?q=1").has_value());
  CHECK_FALSE(parse_spiffe_id("spiffe://td/path#frag").has_value());
  CHECK_FALSE(parse_spiffe_id("spiffe://td/a//b").has_value());
  CHECK_FALSE(parse_spiffe_id("spiffe://td/a/").has_value());
  CHECK_FALSE(parse_spiffe_id("spiffe://td/a/./b").has_value());
  CHECK_FALSE(parse_spiffe_id("spiffe://td/a/../b").has_value());
  CHECK_FALSE(parse_spiffe_id("spiffe://td/a%2fb").has_value());
  std::string long_id = "spiffe://td/" + std::string(2048 - 12, 'a');
  CHECK(parse_spiffe_id(long_id).has_value());
  CHECK_FALSE(parse_spiffe_id(long_id + "a").has_value());
}

TEST_CASE("in_namespace", "[spiffe]") {
  CHECK(in_namespace("spiffe://mesh.example/ns/acme/sa/api", "mesh.example", "acme"));
  CHECK(in_namespace("spiffe://mesh.example/ns/acme/x", "mesh.example", "acme"));
  CHECK_FALSE(in_namespace("spiffe://mesh.example/ns/acme", "mesh.example", "acme"));
  CHECK_FALSE(in_namespace("spiffe://mesh.example/ns/acme/", "mesh.example", "acme"));
  CHECK_FALSE(in_namespace("spiffe://mesh.example/ns/acmex/sa/api", "mesh.example", "acme"));
  CHECK_FALSE(in_namespace("spiffe://mesh.example/ns/globex/sa/api", "mesh.example", "acme"));
  CHECK_FALSE(in_namespace("spiffe://other.example/ns/acme/sa/api", "mesh.example", "acme"));
  CHECK_FALSE(in_namespace("spiffe://mesh.example/x/ns/acme/sa/api", "mesh.example", "acme"));
  CHECK_FALSE(in_namespace("spiffe://mesh.example/ns/acme/../globex", "mesh.example", "acme"));
  CHECK_FALSE(in_namespace("spiffe://mesh.example/ns//sa", "mesh.example", ""));
}
