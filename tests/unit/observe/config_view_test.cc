// GET /config (gateway/runtime/config_view.h): the running configuration as JSON, the same
// fields as the page built by string concatenation before it, plus [limits]; never a key path.
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "gateway/config/config.h"
#include "gateway/config/limits_table.h"
#include "gateway/runtime/config_view.h"

namespace cfg = portcullis::gateway::config;
using portcullis::gateway::runtime::config_json;

namespace {

// Key paths carry this marker, so a test can say "none of them shows" in one search.
constexpr const char* kSecret = "SECRET-KEY-PATH";

cfg::Config sample_config() {
  cfg::Config c;
  c.file = "/etc/portcullis/gateway.toml";
  c.gateway.workers = 2;
  c.gateway.tenants_dir = "/etc/portcullis/tenants";
  c.gateway.drain_timeout = cfg::Millis{15000};
  c.gateway.ticket_keys = std::string("/keys/tickets-") + kSecret;
  c.mesh.trust_domain = "mesh.example";
  c.mesh.ca = "/pki/mesh-ca.pem";
  c.mesh.cert = "/pki/gateway.pem";
  c.mesh.key = std::string("/keys/gateway-") + kSecret + ".pem";
  cfg::ListenerConfig in;
  in.name = "public";
  in.address = "0.0.0.0:8443";
  cfg::ListenerConfig out;
  out.name = "egress";
  out.kind = cfg::ListenerConfig::Kind::egress;
  out.address = "[::1]:15001";
  c.listeners = {in, out};
  cfg::TenantConfig t;
  t.name = "acme";
  t.hosts = {"www.acme.example", "*.acme.example"};
  t.cert = "/pki/acme.pem";
  t.key = std::string("/keys/acme-") + kSecret + ".pem";
  cfg::RouteConfig api;
  api.prefix = true;
  api.path_prefix = "/api/";
  api.cluster = "web";
  cfg::RouteConfig hello;
  hello.path = "/hello";
  hello.direct_response = "hi {tenant}";
  t.routes = {api, hello};
  cfg::ClusterConfig web;
  web.name = "web";
  web.endpoints = {"10.0.0.1:443", "web.acme.svc:443"};
  web.identity = "spiffe://mesh.example/ns/acme/sa/web";
  web.protocol = cfg::ClusterConfig::Protocol::h2;
  t.clusters = {web};
  c.tenants = {t};
  return c;
}

}  // namespace

TEST_CASE("/config keeps the fields of the hand-built page, in the same order", "[config_view]") {
  cfg::Config c = sample_config();
  c.limits = cfg::Limits{};
  const std::string page = config_json(c, 7, "spiffe://mesh.example/gateway");
  REQUIRE(page.ends_with("}\n"));
  const auto j = nlohmann::ordered_json::parse(page);

  std::string keys;
  for (const auto& [k, v] : j.items()) {
    keys += k + ",";
  }
  CHECK(keys == "generation,gateway,mesh,limits,listeners,tenants,");
  CHECK(j["generation"] == 7);
  CHECK(j["gateway"].dump() ==
        R"({"workers":2,"tenants_dir":"/etc/portcullis/tenants","drain_timeout_ms":15000,)"
        R"("drain_delay_ms":10000})");
  CHECK(j["mesh"].dump() == R"({"trust_domain":"mesh.example","ca":"/pki/mesh-ca.pem",)"
                            R"("cert":"/pki/gateway.pem","identity":"spiffe://mesh.example/gateway"})");
  CHECK(j["listeners"].dump() ==
        R"([{"name":"public","kind":"ingress","address":"0.0.0.0:8443","unknown_sni":"reject"},)"
        R"({"name":"egress","kind":"egress","address":"[::1]:15001","unknown_sni":"reject"}])");
  CHECK(j["tenants"].dump() ==
        R"([{"name":"acme","hosts":["www.acme.example","*.acme.example"],"cert":"/pki/acme.pem",)"
        R"("client_ca":"","min_tls":"1.2","routes":[{"path_prefix":"/api/","cluster":"web",)"
        R"("direct_response":false},{"path":"/hello","cluster":"","direct_response":true}],)"
        R"("clusters":[{"name":"web","endpoints":["10.0.0.1:443","web.acme.svc:443"],)"
        R"("identity":"spiffe://mesh.example/ns/acme/sa/web","server_name":"",)"
        R"("protocol":"h2","plaintext":false}]}])");
}

TEST_CASE("/config never shows a key path", "[config_view]") {
  const std::string page = config_json(sample_config(), 1, "");
  CHECK(page.find(kSecret) == std::string::npos);
  CHECK(page.find("\"key\"") == std::string::npos);
  CHECK(page.find("ticket_keys") == std::string::npos);
  CHECK(page.find("PRIVATE KEY") == std::string::npos);
}

TEST_CASE("/config shows every running [limits] value", "[config_view]") {
  cfg::Config c = sample_config();
  c.limits.idle_timeout = cfg::Millis{12345};
  c.limits.max_connections_per_ip = 77;
  c.limits.buffer_per_direction = 65536;
  c.limits.memory_budget = cfg::Limits::kMemoryBudgetAuto;
  const auto j = nlohmann::json::parse(config_json(c, 1, ""));
  const auto& limits = j.at("limits");
  CHECK(limits.size() == cfg::limit_rows().size());
  for (const cfg::LimitRow& row : cfg::limit_rows()) {
    const std::string key(row.key);
    INFO(key);
    if (row.kind == cfg::LimitKind::duration) {
      REQUIRE(limits.contains(key + "_ms"));
      CHECK(limits[key + "_ms"] == cfg::get_limit(c.limits, row));
    } else if (row.kind != cfg::LimitKind::memory) {
      REQUIRE(limits.contains(key));
      CHECK(limits[key] == cfg::get_limit(c.limits, row));
    }
  }
  CHECK(limits["idle_timeout_ms"] == 12345);
  CHECK(limits["max_connections_per_ip"] == 77);
  CHECK(limits["buffer_per_direction"] == 65536);
  CHECK(limits["memory_budget"] == "auto");
  c.limits.memory_budget = 0;
  CHECK(nlohmann::json::parse(config_json(c, 1, ""))["limits"]["memory_budget"] == 0);
}

TEST_CASE("/config escapes any string and stays valid JSON", "[config_view]") {
  cfg::Config c = sample_config();
  c.tenants[0].name = "quote\" back\\ nl\n ctl\x01 bad\xff utf8";
  const std::string page = config_json(c, 1, "");
  nlohmann::json j;
  REQUIRE_NOTHROW(j = nlohmann::json::parse(page));
  const std::string name = j["tenants"][0]["name"];
  CHECK(name.starts_with("quote\" back\\ nl\n ctl\x01 bad"));
  CHECK(name.ends_with("\xEF\xBF\xBD utf8"));  // invalid UTF-8 becomes U+FFFD, never a throw
}
