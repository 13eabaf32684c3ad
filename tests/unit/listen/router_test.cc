// runtime::route_request: the pure router (tenant, authority, path -> cluster or local reply),
// on a snapshot built by hand: two tenants, one cluster, a direct_response.
#include <catch2/catch.hpp>

#include "gateway/snapshot/router.h"

namespace gw = portcullis::gateway;
using gw::Reason;
using gw::runtime::route_request;
using gw::runtime::RouteInput;

namespace {

std::shared_ptr<gw::runtime::Snapshot> two_tenants() {
  auto snap = std::make_shared<gw::runtime::Snapshot>();
  snap->config.tenants.resize(2);
  auto& acme = snap->config.tenants[0];
  acme.name = "acme";
  acme.clusters.resize(1);
  acme.clusters[0].name = "api";
  acme.routes.resize(3);
  acme.routes[0].path = "/direct";
  acme.routes[0].direct_response = "hi {client_identity} from {tenant}\n";
  acme.routes[0].status = 201;
  acme.routes[1].prefix = true;
  acme.routes[1].path_prefix = "/api/";
  acme.routes[1].cluster = "api";
  acme.routes[2].prefix = true;
  acme.routes[2].path_prefix = "/gone/";
  snap->config.tenants[1].name = "beta";
  snap->tenants.resize(2);
  auto& t0 = snap->tenants[0];
  t0.cfg = &acme;
  t0.routes.add_exact("/direct", 0);
  t0.routes.add_prefix("/api/", 1);
  t0.routes.add_prefix("/gone/", 2);
  t0.route_cluster = {-1, 0, -1};
  t0.clusters.resize(1);
  t0.clusters[0].cfg = &acme.clusters[0];
  snap->tenants[1].cfg = &snap->config.tenants[1];
  snap->sni.add_tenant({nullptr, 0, 0});
  snap->sni.add_tenant({nullptr, 0, 1});
  REQUIRE(snap->sni.add_host("acme.test", 0));
  REQUIRE(snap->sni.add_host("beta.test", 1));
  return snap;
}

RouteInput input(std::string_view authority, std::string_view path, bool fallback = false) {
  RouteInput in;
  in.tenant = 0;
  in.tenant_by_fallback = fallback;
  in.authority = authority;
  in.path = path;
  return in;
}

}  // namespace

TEST_CASE("router: a host of this tenant and a routed path go to the route's cluster",
          "[router]") {
  const auto snap = two_tenants();
  for (const char* host : {"acme.test", "acme.test:8443", "ACME.Test.", "Acme.test.:443"}) {
    INFO(host);
    const auto r = route_request(*snap, input(host, "/api/orders"));
    REQUIRE(r.cluster != nullptr);
    CHECK(r.cluster->cfg->name == "api");
    CHECK(r.route == "/api/");
  }
}

TEST_CASE("router: another tenant's host, or an unknown one without fallback, is 421",
          "[router]") {
  const auto snap = two_tenants();
  for (const char* host : {"beta.test", "unknown.test", "[acme.test", ""}) {
    INFO(host);
    const auto r = route_request(*snap, input(host, "/api/x"));
    CHECK(r.cluster == nullptr);
    CHECK(r.reply.status == 421);
    CHECK(r.reply.why == Reason::misdirected_host);
  }
  // The fallback tenant (SNI named nobody) serves unknown hosts, never another tenant's.
  CHECK(route_request(*snap, input("unknown.test", "/api/x", true)).cluster != nullptr);
  CHECK(route_request(*snap, input("beta.test", "/api/x", true)).reply.status == 421);
}

TEST_CASE("router: no route, or a route without a cluster, is 404", "[router]") {
  const auto snap = two_tenants();
  auto r = route_request(*snap, input("acme.test", "/nothing"));
  CHECK(r.cluster == nullptr);
  CHECK(r.reply.status == 404);
  CHECK(r.reply.why == Reason::no_route);
  CHECK(r.reply.body == "no route for this path");
  CHECK(r.route.empty());
  r = route_request(*snap, input("acme.test", "/gone/x"));
  CHECK(r.cluster == nullptr);
  CHECK(r.reply.status == 404);
  CHECK(r.route == "/gone/");
}

TEST_CASE("router: a WebSocket handshake to an HTTP/2 cluster is 501, to HTTP/1.1 routed",
          "[router]") {
  const auto snap = two_tenants();
  auto in = input("acme.test", "/api/ws");
  in.upgrade = "websocket";
  CHECK(route_request(*snap, in).cluster != nullptr);
  snap->config.tenants[0].clusters[0].protocol = gw::config::ClusterConfig::Protocol::h2;
  const auto r = route_request(*snap, in);
  CHECK(r.cluster == nullptr);
  CHECK(r.reply.status == 501);
  CHECK(r.reply.why == Reason::upgrade_refused);
  in.upgrade = {};
  CHECK(route_request(*snap, in).cluster != nullptr);  // plain requests still go there
}

TEST_CASE("router: direct_response substitutes identity and tenant", "[router]") {
  const auto snap = two_tenants();
  auto in = input("acme.test", "/direct");
  in.client_identity = "spiffe://mesh.test/ns/a/sa/b";
  auto r = route_request(*snap, in);
  CHECK(r.cluster == nullptr);
  CHECK(r.reply.status == 201);
  CHECK(r.reply.body == "hi spiffe://mesh.test/ns/a/sa/b from acme");
  CHECK_FALSE(r.reply.local);
  CHECK(r.route == "/direct");
  r = route_request(*snap, input("acme.test", "/direct"));
  CHECK(r.reply.body == "hi anonymous from acme");
}
