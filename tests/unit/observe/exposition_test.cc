#include <catch2/catch.hpp>

#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gateway/observe/metrics.h"

namespace obs = portcullis::gateway::observe;

namespace {

// A minimal parser of the text exposition format: checks each line's shape and returns
// "name{labels}" -> value for samples, plus the HELP/TYPE per family.
struct Parsed {
  std::map<std::string, std::string> samples;
  std::map<std::string, std::string> types;
  std::map<std::string, std::string> helps;
  std::vector<std::string> bad_lines;
};

Parsed parse(const std::string& text) {
  Parsed p;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("# HELP ")) {
      const auto rest = line.substr(7);
      const auto sp = rest.find(' ');
      p.helps[rest.substr(0, sp)] = sp == std::string::npos ? "" : rest.substr(sp + 1);
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      const auto rest = line.substr(7);
      const auto sp = rest.find(' ');
      p.types[rest.substr(0, sp)] = rest.substr(sp + 1);
      continue;
    }
    // name[{labels}] value; label values may contain escaped quotes and spaces.
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') {
      ++i;
    }
    if (i < line.size() && line[i] == '{') {
      bool in_quotes = false;
      for (++i; i < line.size(); ++i) {
        if (in_quotes && line[i] == '\\') {
          ++i;
        } else if (line[i] == '"') {
          in_quotes = !in_quotes;
        } else if (!in_quotes && line[i] == '}') {
          ++i;
          break;
        }
      }
    }
    if (i >= line.size() || line[i] != ' ' || i + 1 >= line.size()) {
      p.bad_lines.push_back(line);
      continue;
    }
    p.samples[line.substr(0, i)] = line.substr(i + 1);
  }
  return p;
}

}  // namespace

TEST_CASE("counters and gauges render with escaped labels", "[metrics]") {
  obs::Registry reg;
  auto& requests = reg.counter("portcullis_requests_total", "Requests by tenant and status.",
                               {"tenant", "status"});
  obs::Counter& ok = requests.with({"acme", "200"});
  ok.inc();
  ok.inc(4);
  requests.with({"we\"ird\\ten\nant", "502"}).inc();
  CHECK(&requests.with({"acme", "200"}) == &ok);  // stable reference

  auto& expiry = reg.gauge("portcullis_cert_expiry_seconds", "Seconds until expiry.\nPer cert.",
                           {"file"});
  expiry.with({"/etc/a.pem"}).set(86400.5);
  reg.gauge("portcullis_config_generation", "Generation.").get().set(3);

  const auto p = parse(reg.render());
  CHECK(p.bad_lines.empty());
  CHECK(p.types.at("portcullis_requests_total") == "counter");
  CHECK(p.types.at("portcullis_cert_expiry_seconds") == "gauge");
  CHECK(p.helps.at("portcullis_cert_expiry_seconds") == "Seconds until expiry.\\nPer cert.");
  CHECK(p.samples.at(R"(portcullis_requests_total{tenant="acme",status="200"})") == "5");
  CHECK(p.samples.at(R"(portcullis_requests_total{tenant="we\"ird\\ten\nant",status="502"})") ==
        "1");
  CHECK(p.samples.at(R"(portcullis_cert_expiry_seconds{file="/etc/a.pem"})") == "86400.5");
  CHECK(p.samples.at("portcullis_config_generation") == "3");
}

TEST_CASE("histograms render cumulative buckets, +Inf, _sum and _count", "[metrics]") {
  obs::Registry reg;
  auto& lat = reg.histogram("portcullis_request_duration_seconds", "Latency.", {"tenant"});
  obs::Histogram& h = lat.with({"acme"});
  h.observe(0.0005);  // <= .001
  h.observe(0.001);   // le is inclusive
  h.observe(0.2);     // <= .25
  h.observe(30);      // +Inf only
  const auto p = parse(reg.render());
  CHECK(p.bad_lines.empty());
  CHECK(p.types.at("portcullis_request_duration_seconds") == "histogram");
  const std::string b = "portcullis_request_duration_seconds_bucket{tenant=\"acme\",le=\"";
  CHECK(p.samples.at(b + "0.001\"}") == "2");
  CHECK(p.samples.at(b + "0.005\"}") == "2");
  CHECK(p.samples.at(b + "0.1\"}") == "2");
  CHECK(p.samples.at(b + "0.25\"}") == "3");
  CHECK(p.samples.at(b + "2.5\"}") == "3");
  CHECK(p.samples.at(b + "10\"}") == "3");
  CHECK(p.samples.at(b + "+Inf\"}") == "4");
  CHECK(p.samples.at("portcullis_request_duration_seconds_count{tenant=\"acme\"}") == "4");
  CHECK(std::stod(p.samples.at("portcullis_request_duration_seconds_sum{tenant=\"acme\"}")) ==
        Approx(30.2015));
  // 12 bounds + +Inf + sum + count.
  CHECK(p.samples.size() == 15);
}

TEST_CASE("series updates from many threads are not lost", "[metrics]") {
  obs::Registry reg;
  obs::Counter& c = reg.counter("x_total", "x").get();
  obs::Histogram& h = reg.histogram("y_seconds", "y").get();
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.01);
      }
    });
  }
  for (auto& t : ts) {
    t.join();
  }
  CHECK(c.value() == 40000);
  const auto p = parse(reg.render());
  CHECK(p.samples.at("y_seconds_count") == "40000");
  CHECK(p.samples.at("y_seconds_bucket{le=\"0.005\"}") == "0");
  CHECK(p.samples.at("y_seconds_bucket{le=\"0.01\"}") == "40000");
}

TEST_CASE("registry rejects bad names and shape conflicts, reuses same shape", "[metrics]") {
  obs::Registry reg;
  CHECK_THROWS_AS(reg.counter("1bad", "x"), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter("ok_total", "x", {"bad-label"}), std::invalid_argument);
  CHECK_THROWS_AS(reg.histogram("h", "x", {"le"}), std::invalid_argument);
  auto& a = reg.counter("same_total", "x", {"a"});
  CHECK(&reg.counter("same_total", "x", {"a"}) == &a);
  CHECK_THROWS_AS(reg.gauge("same_total", "x", {"a"}), std::invalid_argument);
  CHECK_THROWS_AS(a.with({"1", "2"}), std::invalid_argument);
  CHECK(obs::format_double(0.005) == "0.005");
  CHECK(obs::format_double(1) == "1");
  CHECK(obs::escape_label_value("a\"b") == "a\\\"b");
}
