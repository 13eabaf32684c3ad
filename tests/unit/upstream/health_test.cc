#include "gateway/snapshot/health.h"

#include "gateway/observe/metrics.h"

#include <catch2/catch.hpp>

using portcullis::gateway::upstream::EndpointHealth;
using portcullis::gateway::upstream::HealthRegistry;

TEST_CASE("max_failures traffic failures eject; one passing active check ends it at once") {
  EndpointHealth h;
  h.traffic_result(false, 2, 60'000);
  CHECK(h.usable());
  h.traffic_result(false, 2, 60'000);
  CHECK(h.ejected());
  CHECK_FALSE(h.usable());
  h.probe_result(true, /*healthy_threshold=*/3, /*unhealthy_threshold=*/3);
  CHECK_FALSE(h.ejected());
  CHECK(h.usable());
}

TEST_CASE("a success of real traffic (panic routing) ends an ejection") {
  EndpointHealth h;
  h.traffic_result(false, 1, 60'000);
  REQUIRE(h.ejected());
  h.traffic_result(true, 1, 60'000);
  CHECK_FALSE(h.ejected());
}

TEST_CASE("panics are counted per cluster in /metrics") {
  portcullis::gateway::observe::Registry metrics;
  HealthRegistry r;
  r.publish(metrics);
  // Held, as a snapshot holds them: an endpoint no generation holds is forgotten at a scrape.
  const auto a = r.get("acme/web/a:1");
  const auto b = r.get("acme/web/b:1");
  const auto c = r.get("acme/api/c:1");
  a->count_panic();
  b->count_panic();
  const std::string out = metrics.render();
  CHECK(out.find("portcullis_upstream_panic_total{tenant=\"acme\",cluster=\"web\"} 2\n") !=
        std::string::npos);
  CHECK(out.find("portcullis_upstream_panic_total{tenant=\"acme\",cluster=\"api\"} 0\n") !=
        std::string::npos);
}
