#include <catch2/catch.hpp>

#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "gateway/observe/gateway_metrics.h"
#include "tests/unit/observe/exposition.h"

namespace obs = portcullis::gateway::observe;
using portcullis::test::count_samples;
using portcullis::test::sample;

namespace {

// What the previous mutex-and-std::map GatewayMetrics rendered for the events of the test below,
// captured from it byte for byte: names, label order, HELP/TYPE, buckets and number formats.
const char* const kGolden = R"(# HELP portcullis_requests_total Requests by tenant, route, cluster, code.
# TYPE portcullis_requests_total counter
portcullis_requests_total{tenant="acme",route="/",cluster="web",code="200"} 1
portcullis_requests_total{tenant="acme",route="/",cluster="web",code="502"} 1
portcullis_requests_total{tenant="globex",route="",cluster="",code="404"} 1
# HELP portcullis_rejections_total Requests refused or failed, by reason.
# TYPE portcullis_rejections_total counter
portcullis_rejections_total{reason="ip_connection_limit"} 1
portcullis_rejections_total{reason="no_route"} 1
portcullis_rejections_total{reason="upstream_tls"} 1
# HELP portcullis_request_duration_seconds Request latency by tenant, route and cluster.
# TYPE portcullis_request_duration_seconds histogram
portcullis_request_duration_seconds_bucket{tenant="acme",route="/",cluster="web",le="0.001"} 0
portcullis_request_duration_seconds_bucket{tenant="acme",route="/",cluster="web",le="0.005"} 0
portcullis_request_duration_seconds_bucket{tenant="acme",route="/",cluster="web",le="0.01"} 0
portcullis_request_duration_seconds_bucket{tenant="acme",route="/",cluster="web",le="0.025"} 0
portcullis_request_duration_seconds_bucket{tenant="acme",route="/",cluster="web",le="0.05"} 0
portcullis_request_duration_seconds_bucket{tenant="acme",route="/",cluster="web",le="0.1"} 1
portcullis_request_duration_seconds_bucket{tenant="acme",route="/",cluster="web",le="0.25"} 2
portcullis_request_duration_seconds_bucket{tenant="acme",route="/",cluster="web",le="0.5"} 2
portcullis_request_duration_seconds_bucket{tenant="acme",route="/",cluster="web",le="1"} 2
portcullis_request_duration_seconds_bucket{tenant="acme",route="/",cluster="web",le="2.5"} 2
portcullis_request_duration_seconds_bucket{tenant="acme",route="/",cluster="web",le="5"} 2
portcullis_request_duration_seconds_bucket{tenant="acme",route="/",cluster="web",le="10"} 2
portcullis_request_duration_seconds_bucket{tenant="acme",route="/",cluster="web",le="+Inf"} 2
portcullis_request_duration_seconds_sum{tenant="acme",route="/",cluster="web"} 0.3125
portcullis_request_duration_seconds_count{tenant="acme",route="/",cluster="web"} 2
portcullis_request_duration_seconds_bucket{tenant="globex",route="",cluster="",le="0.001"} 1
portcullis_request_duration_seconds_bucket{tenant="globex",route="",cluster="",le="0.005"} 1
portcullis_request_duration_seconds_bucket{tenant="globex",route="",cluster="",le="0.01"} 1
portcullis_request_duration_seconds_bucket{tenant="globex",route="",cluster="",le="0.025"} 1
portcullis_request_duration_seconds_bucket{tenant="globex",route="",cluster="",le="0.05"} 1
portcullis_request_duration_seconds_bucket{tenant="globex",route="",cluster="",le="0.1"} 1
portcullis_request_duration_seconds_bucket{tenant="globex",route="",cluster="",le="0.25"} 1
portcullis_request_duration_seconds_bucket{tenant="globex",route="",cluster="",le="0.5"} 1
portcullis_request_duration_seconds_bucket{tenant="globex",route="",cluster="",le="1"} 1
portcullis_request_duration_seconds_bucket{tenant="globex",route="",cluster="",le="2.5"} 1
portcullis_request_duration_seconds_bucket{tenant="globex",route="",cluster="",le="5"} 1
portcullis_request_duration_seconds_bucket{tenant="globex",route="",cluster="",le="10"} 1
portcullis_request_duration_seconds_bucket{tenant="globex",route="",cluster="",le="+Inf"} 1
portcullis_request_duration_seconds_sum{tenant="globex",route="",cluster=""} 0
portcullis_request_duration_seconds_count{tenant="globex",route="",cluster=""} 1
# HELP portcullis_tls_handshakes_total Completed downstream handshakes.
# TYPE portcullis_tls_handshakes_total counter
portcullis_tls_handshakes_total{tenant="acme",version="TLSv1.3",resumed="true"} 1
# HELP portcullis_tls_handshake_failures_total Failed downstream handshakes by reason.
# TYPE portcullis_tls_handshake_failures_total counter
portcullis_tls_handshake_failures_total{reason="unknown_sni"} 1
# HELP portcullis_upstream_failures_total Upstream connect, TLS and identity failures by tenant, cluster and reason.
# TYPE portcullis_upstream_failures_total counter
portcullis_upstream_failures_total{tenant="acme",cluster="web",reason="connect_failed"} 1
# HELP portcullis_upstream_tls_handshakes_total Completed and verified upstream handshakes by tenant and cluster, and whether they resumed a session.
# TYPE portcullis_upstream_tls_handshakes_total counter
portcullis_upstream_tls_handshakes_total{tenant="acme",cluster="web",resumed="false"} 1
portcullis_upstream_tls_handshakes_total{tenant="acme",cluster="web",resumed="true"} 2
portcullis_upstream_tls_handshakes_total{tenant="globex",cluster="web",resumed="false"} 1
# HELP portcullis_downstream_connections Open client connections.
# TYPE portcullis_downstream_connections gauge
portcullis_downstream_connections{listener="public"} 1
# HELP portcullis_downstream_closes_total Client connections the gateway closed on a limit, by reason.
# TYPE portcullis_downstream_closes_total counter
portcullis_downstream_closes_total{reason="idle_timeout"} 1
# HELP portcullis_config_reloads_total Reload attempts by result.
# TYPE portcullis_config_reloads_total counter
portcullis_config_reloads_total{result="failure"} 1
portcullis_config_reloads_total{result="success"} 1
# HELP portcullis_egress_decisions_total Egress decisions by reason.
# TYPE portcullis_egress_decisions_total counter
portcullis_egress_decisions_total{decision="deny",reason="not_listed"} 1
# HELP portcullis_config_generation The running config generation.
# TYPE portcullis_config_generation gauge
portcullis_config_generation 2
# HELP portcullis_config_last_reload_success 1 when the last load or reload of the configuration succeeded.
# TYPE portcullis_config_last_reload_success gauge
portcullis_config_last_reload_success 0
# HELP portcullis_config_last_reload_success_timestamp_seconds Unix time of the last successful load or reload of the configuration.
# TYPE portcullis_config_last_reload_success_timestamp_seconds gauge
portcullis_config_last_reload_success_timestamp_seconds 0
# HELP portcullis_rate_limiting Buckets (one per worker) now refusing requests with 429, by scope (tenant or client) and tenant ("" for client).
# TYPE portcullis_rate_limiting gauge
portcullis_rate_limiting{scope="client",tenant=""} 0
portcullis_rate_limiting{scope="tenant",tenant="acme"} 1
# HELP portcullis_rate_limited_total Requests refused with 429 by a rate limit, by scope and tenant ("" for client).
# TYPE portcullis_rate_limited_total counter
portcullis_rate_limited_total{scope="client",tenant=""} 1
portcullis_rate_limited_total{scope="tenant",tenant="acme"} 2
)";

}  // namespace

TEST_CASE("GatewayMetrics renders the golden exposition", "[gateway_metrics]") {
  obs::GatewayMetrics m;
  m.request("acme", "/", "web", 200, "", 0.25);
  m.request("acme", "/", "web", 502, "upstream_tls", 0.0625);
  m.request("globex", "", "", 404, "no_route", 0);
  m.handshake("acme", "TLSv1.3", true);
  m.handshake_failed("unknown_sni");
  m.rejection("ip_connection_limit");
  m.upstream_failure("acme", "web", "connect_failed");
  m.upstream_handshake("acme", "web", false);
  m.upstream_handshake("acme", "web", true);
  m.upstream_handshake("acme", "web", true);
  m.upstream_handshake("globex", "web", false);  // same-named clusters of two tenants stay apart
  m.rate_limited("tenant", "acme", true);
  m.rate_limited("client", "", true);
  m.rate_limited("client", "", false);
  m.rate_limited_request("tenant", "acme");
  m.rate_limited_request("tenant", "acme");
  m.rate_limited_request("client", "");
  m.connection("public", 1);
  m.connection("public", 1);
  m.connection("public", -1);
  m.connection_closed("idle_timeout");
  m.reload_result(true);
  m.reload_result(false);
  m.set_generation(2);
  m.egress("deny", "not_listed");
  CHECK(m.render() == kGolden);
}

TEST_CASE("GatewayMetrics before any traffic: every family, generation 1", "[gateway_metrics]") {
  const std::string page = obs::GatewayMetrics().render();
  for (const char* family :
       {"portcullis_requests_total counter", "portcullis_rejections_total counter",
        "portcullis_request_duration_seconds histogram", "portcullis_tls_handshakes_total counter",
        "portcullis_tls_handshake_failures_total counter",
        "portcullis_upstream_failures_total counter",
        "portcullis_upstream_tls_handshakes_total counter", "portcullis_downstream_connections gauge",
        "portcullis_downstream_closes_total counter",
        "portcullis_config_reloads_total counter", "portcullis_egress_decisions_total counter",
        "portcullis_config_generation gauge"}) {
    CHECK(page.find(std::string("# TYPE ") + family + "\n") != std::string::npos);
  }
  CHECK(sample(page, "portcullis_config_generation") == "1");
}

TEST_CASE("GatewayMetrics: concurrent workers give exact totals", "[gateway_metrics]") {
  obs::GatewayMetrics m;
  constexpr int kThreads = 6;
  constexpr int kPerThread = 20000;
  std::latch go(kThreads);  // start together, so the threads overlap
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&m, &go, t] {
      go.arrive_and_wait();
      // Each worker also creates label sets of its own while the others look theirs up.
      const std::string own = "tenant" + std::to_string(t);
      for (int i = 0; i < kPerThread; ++i) {
        m.connection("public", +1);
        m.request("acme", "/", "web", 200, "", 0.002);
        const bool ok = i % 2 == 0;
        m.request(own, "/", "web", ok ? 200 : 503, ok ? "" : "no_healthy_upstream", 0.02);
        m.handshake("acme", "TLSv1.3", i % 3 == 0);
        m.connection("public", -1);
      }
    });
  }
  for (auto& w : workers) {
    w.join();
  }
  const std::string page = m.render();
  const std::string all = std::to_string(kThreads * kPerThread);
  const std::string half = std::to_string(kPerThread / 2);
  const std::string acme = R"(tenant="acme",route="/",cluster="web")";
  const std::string latency = "portcullis_request_duration_seconds";
  CHECK(sample(page, "portcullis_requests_total{" + acme + ",code=\"200\"}") == all);
  CHECK(sample(page, latency + "_count{" + acme + "}") == all);
  CHECK(sample(page, latency + "_bucket{" + acme + ",le=\"0.001\"}") == "0");
  CHECK(sample(page, latency + "_bucket{" + acme + ",le=\"0.005\"}") == all);
  for (int t = 0; t < kThreads; ++t) {
    const std::string own = "tenant=\"tenant" + std::to_string(t) + R"(",route="/",cluster="web")";
    CHECK(sample(page, "portcullis_requests_total{" + own + ",code=\"200\"}") == half);
    CHECK(sample(page, "portcullis_requests_total{" + own + ",code=\"503\"}") == half);
    CHECK(sample(page, latency + "_count{" + own + "}") == std::to_string(kPerThread));
  }
  CHECK(sample(page, R"(portcullis_rejections_total{reason="no_healthy_upstream"})") ==
        std::to_string(kThreads * kPerThread / 2));
  const int resumed = kThreads * ((kPerThread + 2) / 3);
  const std::string hs = R"(portcullis_tls_handshakes_total{tenant="acme",version="TLSv1.3",)";
  CHECK(sample(page, hs + R"(resumed="true"})") == std::to_string(resumed));
  const int fresh = kThreads * kPerThread - resumed;
  CHECK(sample(page, hs + R"(resumed="false"})") == std::to_string(fresh));
  CHECK(sample(page, R"(portcullis_downstream_connections{listener="public"})") == "0");
}

TEST_CASE("GatewayMetrics: egress destinations cannot grow upstream failures without bound",
          "[gateway_metrics]") {
  obs::GatewayMetrics m;
  constexpr std::size_t kCap = obs::GatewayMetrics::kMaxUpstreamFailureSeries;
  for (std::size_t i = 0; i < kCap + 500; ++i) {
    m.upstream_failure("", "host" + std::to_string(i) + ".partner.example:443", "untrusted_ca");
  }
  m.upstream_failure("", "host0.partner.example:443", "untrusted_ca");  // kept: still its own series
  const std::string page = m.render();
  CHECK(count_samples(page, "portcullis_upstream_failures_total") == kCap + 1);
  const std::string failures = "portcullis_upstream_failures_total";
  CHECK(sample(page, failures + R"({tenant="",cluster="host0.partner.example:443",reason="untrusted_ca"})") ==
        "2");
  CHECK(sample(page, failures + R"({tenant="__overflow__",cluster="__overflow__",reason="__overflow__"})") == "500");
  CHECK(sample(page, failures + R"({tenant="",cluster="host1499.partner.example:443",reason="untrusted_ca"})")
            .empty());
}

TEST_CASE("GatewayMetrics::follow drops removed tenants' and clusters' series", "[gateway_metrics]") {
  obs::GatewayMetrics m;
  m.request("acme", "/", "web", 200, "", 0.01);
  m.request("globex", "/", "api", 200, "", 0.01);
  m.request("", "", "", 400, "http_malformed", 0);  // before a tenant was known: kept
  m.handshake("globex", "TLSv1.3", false);
  m.upstream_failure("acme", "old", "connect_failed");
  m.upstream_failure("acme", "web", "connect_failed");
  m.upstream_handshake("globex", "api", false);
  m.upstream_failure("", "egress:api.example", "connect_failed");  // egress: no tenant
  m.rate_limited_request("tenant", "globex");
  obs::GatewayMetrics::Shape shape;
  shape.tenants = {"acme"};
  shape.clusters = {{"acme", "web"}};
  shape.routes = 1;
  m.follow(shape);
  const std::string page = m.render();
  CHECK(page.find("globex") == std::string::npos);
  CHECK(page.find("cluster=\"old\"") == std::string::npos);
  CHECK(count_samples(page, "portcullis_requests_total") == 2);
  CHECK(sample(page, "portcullis_upstream_failures_total{tenant=\"acme\",cluster=\"web\",reason=\"connect_failed\"}") == "1");
  CHECK(sample(page, "portcullis_upstream_failures_total{tenant=\"\",cluster=\"egress:api.example\",reason=\"connect_failed\"}") == "1");
  CHECK(sample(page, "portcullis_config_last_reload_success") == "1");
  CHECK(sample(page, "portcullis_config_last_reload_success_timestamp_seconds") != "0");
  // A tenant that comes back starts from zero.
  m.request("globex", "/", "api", 200, "", 0.01);
  CHECK(sample(m.render(), "portcullis_requests_total{tenant=\"globex\",route=\"/\",cluster=\"api\",code=\"200\"}") == "1");
  m.reload_result(false);
  CHECK(sample(m.render(), "portcullis_config_last_reload_success") == "0");
}

TEST_CASE("GatewayMetrics::follow scales the caps with the tenants", "[gateway_metrics]") {
  obs::GatewayMetrics m;
  obs::GatewayMetrics::Shape shape;
  constexpr int kTenants = 12000;  // past the default cap of 10,000 label sets
  for (int i = 0; i < kTenants; ++i) {
    shape.tenants.push_back("t" + std::to_string(100000 + i));
  }
  shape.routes = kTenants;
  m.follow(shape);
  for (const auto& t : shape.tenants) {
    m.request(t, "/", "", 200, "", 0.01);
  }
  const std::string page = m.render();
  CHECK(page.find("__overflow__") == std::string::npos);
  CHECK(count_samples(page, "portcullis_requests_total") == kTenants);
}
