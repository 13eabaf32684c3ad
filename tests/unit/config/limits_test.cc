// [limits] comes from one table (gateway/config/limits_table.h): these tests hold the loader,
// the defaults, the diagnostics and README to it, row by row.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>

#include "gateway/config/config.h"
#include "gateway/config/limits_table.h"
#include "tests/unit/config/tmp_dir.h"

namespace cfg = portcullis::gateway::config;
using portcullis::test::TmpDir;

namespace {

// gateway.toml holding only `[limits]` (line 1) and `body` (from line 2).
cfg::LoadResult load_limits(const TmpDir& dir, const std::string& body) {
  dir.write("gateway.toml", "[limits]\n" + body);
  return cfg::load(dir.path("gateway.toml"));
}

std::string dump(const cfg::LoadResult& r) {
  std::string s;
  for (const auto& d : r.diagnostics) {
    s += d.format() + "\n";
  }
  return s;
}

// A TOML value for `v` in the row's unit.
std::string toml_value(const cfg::LimitRow& row, std::uint64_t v) {
  return row.kind == cfg::LimitKind::duration ? "\"" + std::to_string(v) + "ms\""
                                              : std::to_string(v);
}

}  // namespace

TEST_CASE("[limits]: every row's default is what a config without [limits] yields",
          "[config][limits]") {
  TmpDir dir;
  dir.write("gateway.toml", "# no [limits]\n");
  const auto r = cfg::load(dir.path("gateway.toml"));
  INFO(dump(r));
  REQUIRE(r.ok());
  const cfg::Limits fresh;
  for (const cfg::LimitRow& row : cfg::limit_rows()) {
    INFO(row.key);
    CHECK(cfg::get_limit(r.config->limits, row) == row.def);
    CHECK(cfg::get_limit(fresh, row) == row.def);
    CHECK(row.lo <= row.hi);
    if (row.kind != cfg::LimitKind::memory) {
      CHECK(row.def >= row.lo);
      CHECK(row.def <= row.hi);
    }
    CHECK(cfg::find_limit(row.key) == &row);
  }
  // The public names others read keep their documented values.
  CHECK(fresh.header_timeout == cfg::Millis{10'000});
  CHECK(fresh.h2_stream_window == 64 * 1024);
  CHECK(fresh.upstream_h2_stream_window == 64 * 1024);
  CHECK(fresh.upstream_h2_connection_window == 1024 * 1024);
  CHECK(fresh.memory_budget == cfg::Limits::kMemoryBudgetAuto);
}

TEST_CASE("[limits]: each key fills its own member", "[config][limits]") {
  // Every row at a value other than its default, all in one file: a row that fills another
  // row's member, or none, shows here.
  TmpDir dir;
  std::string body;
  std::vector<std::uint64_t> want;
  std::set<std::uint64_t> seen;
  for (const cfg::LimitRow& row : cfg::limit_rows()) {
    // Distinct across rows (base + row index), inside the bounds, off the default.
    const std::uint64_t v = std::max<std::uint64_t>(row.lo, 100) + want.size() + 1;
    INFO(row.key);
    REQUIRE(v <= row.hi);
    REQUIRE(v != row.def);
    REQUIRE(seen.insert(v).second);
    want.push_back(v);
    body += std::string(row.key) + " = " + toml_value(row, v) + "\n";
  }
  const auto r = load_limits(dir, body);
  INFO(dump(r));
  REQUIRE(r.ok());
  std::size_t i = 0;
  for (const cfg::LimitRow& row : cfg::limit_rows()) {
    INFO(row.key);
    CHECK(cfg::get_limit(r.config->limits, row) == want[i++]);
  }
}

TEST_CASE("[limits]: out-of-bounds values name file:line:col and the row's bounds",
          "[config][limits]") {
  TmpDir dir;
  for (const cfg::LimitRow& row : cfg::limit_rows()) {
    INFO(row.key);
    const std::uint64_t bad = row.hi != cfg::kNoUpperBound ? row.hi + 1 : row.lo - 1;
    const auto r = load_limits(dir, "\n" + std::string(row.key) + " = " + toml_value(row, bad) +
                                        "\n");
    INFO(dump(r));
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.diagnostics.size() == 1);
    const cfg::Diagnostic& d = r.diagnostics[0];
    CHECK(d.pos.file.ends_with("gateway.toml"));
    CHECK(d.pos.line == 3);
    CHECK(d.pos.col == static_cast<int>(row.key.size()) + 4);
    CHECK(d.message.starts_with(std::string(row.key) + " = "));
    CHECK(d.message.find("out of range") != std::string::npos);
    CHECK(d.accepted.starts_with(cfg::limit_bounds(row)));
  }
  // The bounds read as an operator would write them.
  CHECK(cfg::limit_bounds(*cfg::find_limit("max_header_count")) == "1 to 100000");
  CHECK(cfg::limit_bounds(*cfg::find_limit("max_request_headers")) == "1024 to 67108864 bytes");
  CHECK(cfg::limit_bounds(*cfg::find_limit("idle_timeout")) == "at least 1ms");
  const auto r = load_limits(dir, "idle_timeout = \"0s\"\n");
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].format() ==
        dir.path("gateway.toml") + ":2:16: error: idle_timeout = \"0s\" is out of range "
                                   "(accepted: at least 1ms (\"500ms\", \"15s\", \"2m\", \"1h\"))");
}

TEST_CASE("[limits]: unknown keys still fail, naming every known key", "[config][limits]") {
  TmpDir dir;
  const auto r = load_limits(dir, "idle_timeout = \"5s\"\nh2_max_streams = 10\n");
  INFO(dump(r));
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.diagnostics.size() == 1);
  const cfg::Diagnostic& d = r.diagnostics[0];
  CHECK(d.pos.line == 3);
  CHECK(d.pos.col == 1);
  CHECK(d.message == "unknown key 'h2_max_streams' in [limits]");
  for (const cfg::LimitRow& row : cfg::limit_rows()) {
    CHECK(d.accepted.find(std::string(row.key)) != std::string::npos);
  }
}

TEST_CASE("README's [limits] table documents every row, with its default", "[config][limits]") {
  std::ifstream in(PORTCULLIS_README);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string readme = ss.str();
  const auto heading = readme.find("\n### [limits]\n\n");
  REQUIRE(heading != std::string::npos);
  const auto begin = heading + std::string("\n### [limits]\n\n").size();
  const auto end = readme.find("\n\n", begin);
  REQUIRE(end != std::string::npos);
  const std::string table = readme.substr(begin, end - begin + 1);
  // On a mismatch the expected table goes to stderr unwrapped: paste it into README.
  const std::string want = cfg::limits_markdown();
  if (table != want) {
    std::cerr << "README.md [limits] table should read:\n" << want;
  }
  CHECK(table == want);
}
