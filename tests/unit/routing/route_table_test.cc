#include <catch2/catch.hpp>

#include "routing/route_table.h"

using portcullis::routing::RouteTable;

TEST_CASE("RouteTable longest prefix wins regardless of order", "[route_table]") {
  RouteTable t;
  t.add_prefix("/", 0);
  t.add_prefix("/api/", 1);
  t.add_prefix("/api/v2/", 2);
  t.add_prefix("/api/v1", 3);
  CHECK(t.match("/") == 0u);
  CHECK(t.match("/index.html") == 0u);
  CHECK(t.match("/api/") == 1u);
  CHECK(t.match("/api/x") == 1u);
  CHECK(t.match("/api") == 0u);
  CHECK(t.match("/api/v2/users") == 2u);
  CHECK(t.match("/api/v1x") == 3u);
}

TEST_CASE("RouteTable exact beats prefix", "[route_table]") {
  RouteTable t;
  t.add_prefix("/api/", 1);
  t.add_exact("/api/health", 9);
  CHECK(t.match("/api/health") == 9u);
  CHECK(t.match("/api/health/x") == 1u);
  CHECK(t.match("/api/healthz") == 1u);
}

TEST_CASE("RouteTable ignores the query string", "[route_table]") {
  RouteTable t;
  t.add_exact("/login", 4);
  t.add_prefix("/static/", 5);
  CHECK(t.match("/login?next=/static/") == 4u);
  CHECK(t.match("/static/?a=b") == 5u);
  CHECK_FALSE(t.match("/other?x=/static/").has_value());
  CHECK_FALSE(t.match("").has_value());
}

TEST_CASE("RouteTable first definition of a duplicate wins; case-sensitive", "[route_table]") {
  RouteTable t;
  CHECK(t.empty());
  t.add_prefix("/a/", 1);
  t.add_prefix("/a/", 2);
  t.add_exact("/x", 3);
  t.add_exact("/x", 4);
  CHECK_FALSE(t.empty());
  CHECK(t.match("/a/b") == 1u);
  CHECK(t.match("/x") == 3u);
  CHECK_FALSE(t.match("/A/b").has_value());
}

TEST_CASE("RouteTable empty table matches nothing", "[route_table]") {
  RouteTable t;
  CHECK_FALSE(t.match("/").has_value());
}
