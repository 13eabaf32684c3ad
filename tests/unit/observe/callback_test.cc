// Callback families (metrics.h): samples read by a function at every render, registered and
// unregistered through CallbackRegistration; and HealthRegistry's portcullis_upstream_healthy,
// the first family published that way.
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "gateway/observe/gateway_metrics.h"
#include "gateway/observe/metrics.h"
#include "gateway/snapshot/health.h"
#include "tests/unit/observe/exposition.h"

namespace obs = portcullis::gateway::observe;
using portcullis::test::count_samples;
using portcullis::test::sample;

TEST_CASE("a callback gauge is read at every render, sorted and escaped", "[callback]") {
  obs::Registry reg;
  double value = 3;
  int calls = 0;
  auto keep = reg.callback_gauge("cb_gauge", "A callback gauge.", {"who"},
                                 [&](obs::SampleSink& out) {
                                   ++calls;
                                   out.add({"zed"}, value);
                                   out.add({"a\"b\\c\nd"}, 0.5);
                                 });
  CHECK(calls == 0);  // nothing is read at registration
  std::string page = reg.render();
  CHECK(calls == 1);
  CHECK(page == "# HELP cb_gauge A callback gauge.\n"
                "# TYPE cb_gauge gauge\n"
                "cb_gauge{who=\"a\\\"b\\\\c\\nd\"} 0.5\n"
                "cb_gauge{who=\"zed\"} 3\n");
  value = 120000;
  page = reg.render();
  CHECK(calls == 2);
  CHECK(sample(page, "cb_gauge{who=\"zed\"}") == "120000");
}

TEST_CASE("callback counters and labelless callbacks keep their type", "[callback]") {
  obs::Registry reg;
  auto& plain = reg.counter("plain_total", "Plain.");
  plain.get().inc(2);
  auto a = reg.callback_counter("writes_failed_total", "Failed writes.", {"log"},
                                [](obs::SampleSink& out) {
                                  out.add({"access"}, 7);
                                  out.add({"audit"}, 0);
                                });
  auto b = reg.callback_gauge("rss_bytes", "RSS.", {},
                              [](obs::SampleSink& out) { out.add(4096); });
  const std::string page = reg.render();
  // Registration order is render order, callback families among the others.
  CHECK(page.find("plain_total") < page.find("writes_failed_total"));
  CHECK(page.find("writes_failed_total") < page.find("rss_bytes"));
  CHECK(page.find("# TYPE writes_failed_total counter\n") != std::string::npos);
  CHECK(page.find("# TYPE rss_bytes gauge\n") != std::string::npos);
  CHECK(sample(page, "writes_failed_total{log=\"access\"}") == "7");
  CHECK(sample(page, "writes_failed_total{log=\"audit\"}") == "0");
  CHECK(sample(page, "rss_bytes") == "4096");
}

TEST_CASE("reset and destruction unregister; the family outlives its callbacks", "[callback]") {
  obs::Registry reg;
  int calls = 0;
  auto keep = reg.callback_gauge("g", "G.", {"k"}, [&](obs::SampleSink& out) {
    ++calls;
    out.add({"x"}, 1);
  });
  CHECK(count_samples(reg.render(), "g") == 1);
  keep.reset();
  CHECK_FALSE(keep);
  const std::string page = reg.render();
  CHECK(calls == 1);
  CHECK(page == "# HELP g G.\n# TYPE g gauge\n");  // a family with no samples is valid
  {
    auto scoped = reg.callback_gauge("g", "G.", {"k"}, [](obs::SampleSink& out) {
      out.add({"y"}, 2);
    });
    CHECK(sample(reg.render(), "g{k=\"y\"}") == "2");
  }
  CHECK(count_samples(reg.render(), "g") == 0);

  // Moving a registration keeps one callback registered; assigning over one drops the old.
  auto first = reg.callback_gauge("g", "G.", {"k"}, [](obs::SampleSink& out) {
    out.add({"first"}, 1);
  });
  obs::CallbackRegistration moved = std::move(first);
  CHECK(sample(reg.render(), "g{k=\"first\"}") == "1");
  moved = reg.callback_gauge("g", "G.", {"k"}, [](obs::SampleSink& out) {
    out.add({"second"}, 1);
  });
  const std::string after = reg.render();
  CHECK(count_samples(after, "g") == 1);
  CHECK(sample(after, "g{k=\"second\"}") == "1");
}

TEST_CASE("a registration may outlive its registry", "[callback]") {
  obs::CallbackRegistration keep;
  {
    obs::Registry reg;
    keep = reg.callback_gauge("g", "G.", {}, [](obs::SampleSink& out) { out.add(1); });
  }
  keep.reset();  // the slot is shared: no dangling family is touched
  CHECK_FALSE(keep);
}

TEST_CASE("several callbacks feed one family; a repeated label set is kept once", "[callback]") {
  obs::Registry reg;
  auto a = reg.callback_gauge("g", "G.", {"k"}, [](obs::SampleSink& out) {
    out.add({"shared"}, 1);
    out.add({"a"}, 1);
  });
  auto b = reg.callback_gauge("g", "G.", {"k"}, [](obs::SampleSink& out) {
    out.add({"shared"}, 2);
    out.add({"b"}, 2);
  });
  const std::string page = reg.render();
  CHECK(count_samples(page, "g") == 3);
  CHECK(sample(page, "g{k=\"shared\"}") == "1");  // the first registered wins
  CHECK(sample(page, "g{k=\"b\"}") == "2");
}

TEST_CASE("a failing callback loses its samples, not the page", "[callback]") {
  obs::Registry reg;
  auto bad = reg.callback_gauge("g", "G.", {"k"}, [](obs::SampleSink& out) {
    out.add({"one", "two"}, 1);  // wrong label count: throws
  });
  auto worse = reg.callback_gauge("g", "G.", {"k"},
                                  [](obs::SampleSink&) { throw std::runtime_error("boom"); });
  auto good = reg.callback_gauge("g", "G.", {"k"}, [](obs::SampleSink& out) {
    out.add({"ok"}, 1);
  });
  auto& after = reg.counter("after_total", "After.");
  after.get().inc();
  std::string page;
  REQUIRE_NOTHROW(page = reg.render());
  CHECK(count_samples(page, "g") == 1);
  CHECK(sample(page, "g{k=\"ok\"}") == "1");
  CHECK(page.find("# g: a callback failed: boom\n") != std::string::npos);
  CHECK(sample(page, "after_total") == "1");
}

TEST_CASE("callback families are checked like the others", "[callback]") {
  obs::Registry reg;
  const obs::Collect none = [](obs::SampleSink&) {};
  CHECK_THROWS_AS(reg.callback_gauge("1bad", "x", {}, none), std::invalid_argument);
  CHECK_THROWS_AS(reg.callback_gauge("ok", "x", {"__reserved"}, none), std::invalid_argument);
  reg.counter("taken_total", "x", {"a"});
  CHECK_THROWS_AS(reg.callback_counter("taken_total", "x", {"a"}, none), std::invalid_argument);
  auto g = reg.callback_gauge("cb", "x", {"a"}, none);
  CHECK_THROWS_AS(reg.gauge("cb", "x", {"a"}), std::invalid_argument);
  CHECK_THROWS_AS(reg.callback_counter("cb", "x", {"a"}, none), std::invalid_argument);
  CHECK_THROWS_AS(reg.callback_gauge("cb", "x", {"b"}, none), std::invalid_argument);
}

TEST_CASE("HealthRegistry publishes portcullis_upstream_healthy on the gateway registry",
          "[callback][health]") {
  obs::GatewayMetrics metrics;
  std::optional<portcullis::gateway::upstream::HealthRegistry> health;
  health.emplace();
  auto up = health->get("acme/web/10.0.0.1:443");
  auto down = health->get("acme/web/we\"ird:1");
  health->publish(metrics.registry());
  std::string page = metrics.render();
  // After GatewayMetrics' own families: one page, one writer.
  CHECK(page.find("portcullis_config_generation") < page.find("portcullis_upstream_healthy"));
  CHECK(page.find("# HELP portcullis_upstream_healthy 1 when the endpoint takes traffic (active "
                  "checks passing, not ejected).\n# TYPE portcullis_upstream_healthy gauge\n") !=
        std::string::npos);
  CHECK(sample(page, "portcullis_upstream_healthy{tenant=\"acme\",cluster=\"web\",endpoint=\"10.0.0.1:443\"}") == "1");
  CHECK(sample(page, "portcullis_upstream_healthy{tenant=\"acme\",cluster=\"web\",endpoint=\"we\\\"ird:1\"}") == "1");

  down->probe_result(false, 1, 1);  // read at scrape time, not copied at publish()
  page = metrics.render();
  CHECK(sample(page, "portcullis_upstream_healthy{tenant=\"acme\",cluster=\"web\",endpoint=\"we\\\"ird:1\"}") == "0");
  auto globex = health->get("globex/api/10.0.0.2:443");
  CHECK(count_samples(metrics.render(), "portcullis_upstream_healthy") == 3);
  // A reload dropped globex: once no generation holds the endpoint, its series goes.
  globex.reset();
  page = metrics.render();
  CHECK(count_samples(page, "portcullis_upstream_healthy") == 2);
  CHECK(page.find("globex") == std::string::npos);

  health.reset();  // unregisters: the page stays valid, without the samples
  page = metrics.render();
  CHECK(count_samples(page, "portcullis_upstream_healthy") == 0);
  CHECK(page.find("# TYPE portcullis_upstream_healthy gauge\n") != std::string::npos);
}
