#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gateway/observe/access_log.h"
#include "gateway/observe/audit_log.h"
#include "tests/unit/config/tmp_dir.h"

namespace obs = portcullis::gateway::observe;
using portcullis::test::TmpDir;

namespace {

std::string escaped(std::string_view s) {
  std::string out;
  obs::JsonLine::append_escaped(out, s);
  return out;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    lines.push_back(l);
  }
  return lines;
}

}  // namespace

TEST_CASE("JsonLine escapes quotes, backslashes, control characters and non-UTF-8 bytes",
          "[observe]") {
  CHECK(escaped("plain") == "\"plain\"");
  CHECK(escaped("a\"b\\c") == R"("a\"b\\c")");
  CHECK(escaped("l1\nl2\r\t") == R"("l1\nl2\r\t")");
  CHECK(escaped(std::string_view("\x01\x1f\x7f", 3)) == R"("\u0001\u001f\u007f")");
  CHECK(escaped(std::string_view("nul\0x", 5)) == R"("nul\u0000x")");
  // Valid UTF-8 passes through untouched.
  CHECK(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92") ==
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92\"");
  // Invalid bytes: lone continuation, truncated sequence, overlong '/', surrogate, > U+10FFFF.
  CHECK(escaped("\x80") == R"("\u0080")");
  CHECK(escaped("a\xc3") == R"("a\u00c3")");
  CHECK(escaped("\xc0\xaf") == R"("\u00c0\u00af")");
  CHECK(escaped("\xed\xa0\x80") == R"("\u00ed\u00a0\u0080")");
  CHECK(escaped("\xf4\x90\x80\x80") == R"("\u00f4\u0090\u0080\u0080")");
}

TEST_CASE("JsonLine builds an object in insertion order", "[observe]") {
  obs::JsonLine j;
  j.add("s", "x").add("n", std::int64_t{-5}).add("u", std::uint64_t{7}).add("i", 200).add_bool(
      "b", true);
  CHECK(j.str() == R"({"s":"x","n":-5,"u":7,"i":200,"b":true})");
  CHECK(obs::JsonLine{}.str() == "{}");
}

TEST_CASE("rfc3339 is UTC with milliseconds", "[observe]") {
  using namespace std::chrono;
  const system_clock::time_point t{milliseconds{1795431235123}};
  CHECK(obs::rfc3339(t) == "2026-11-23T10:53:55.123Z");
  CHECK(obs::rfc3339(system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
  const std::string now = obs::rfc3339_now();
  REQUIRE(now.size() == 24);
  CHECK(now[10] == 'T');
  CHECK(now.back() == 'Z');
}

TEST_CASE("access log lines carry every contract field", "[observe]") {
  obs::AccessRecord r;
  r.tenant = "acme";
  r.listener = "public";
  r.client = "203.0.113.7:51234";
  r.sni = "shop.acme.example";
  r.tls_version = "TLSv1.3";
  r.alpn = "h2";
  r.method = "GET";
  r.authority = "shop.acme.example";
  r.path = "/api/\"x\"";
  r.status = 200;
  r.bytes_in = 10;
  r.bytes_out = 2048;
  r.duration_ms = 12;
  r.upstream = "10.0.1.10:8443";
  r.upstream_identity = "spiffe://mesh.example/ns/acme/sa/api";
  r.request_id = "abc";
  r.route = "api";
  r.cluster = "api-backend";
  r.duration_us = 12345;
  CHECK(obs::format_access(r, "T") ==
        R"({"time":"T","tenant":"acme","listener":"public","client":"203.0.113.7:51234",)"
        R"("sni":"shop.acme.example","tls_version":"TLSv1.3","alpn":"h2","method":"GET",)"
        R"("authority":"shop.acme.example","path":"/api/\"x\"","status":200,"bytes_in":10,)"
        R"("bytes_out":2048,"duration_ms":12,"upstream":"10.0.1.10:8443",)"
        R"("upstream_identity":"spiffe://mesh.example/ns/acme/sa/api","request_id":"abc",)"
        R"("reason":"none","route":"api","cluster":"api-backend","duration_us":12345})");
}

TEST_CASE("audit lines leave out unset subject fields", "[observe]") {
  obs::AuditSubject s;
  s.tenant = "acme";
  s.destination = "api.partner.example:443";
  CHECK(obs::format_audit(obs::kEventEgressDeny, obs::Decision::deny, "egress_denied", s, "T") ==
        R"({"time":"T","event":"egress_deny","decision":"deny","reason":"egress_denied",)"
        R"("tenant":"acme","destination":"api.partner.example:443"})");
}

TEST_CASE("LogFile appends whole lines from many threads and reopens after rotation",
          "[observe]") {
  TmpDir dir;
  const std::string path = dir.path("access.log");
  obs::LogFile f;
  REQUIRE(f.open(path));
  CHECK(f.enabled());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&f, t] {
      for (int i = 0; i < 500; ++i) {
        f.write(std::string(100 + t, static_cast<char>('a' + t)));
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  auto lines = read_lines(path);
  REQUIRE(lines.size() == 2000);
  for (const auto& l : lines) {
    REQUIRE(l.size() >= 100);
    CHECK(l == std::string(l.size(), l[0]));  // never interleaved
  }

  // logrotate: move the file away, reopen, new lines go to a fresh file.
  std::filesystem::rename(path, path + ".1");
  f.write("old");
  REQUIRE(f.reopen());
  f.write("new");
  CHECK(read_lines(path) == std::vector<std::string>{"new"});
  CHECK(read_lines(path + ".1").back() == "old");
  CHECK(f.write_failures() == 0);
}

TEST_CASE("LogFile: disabled, unopenable and failing files never throw", "[observe]") {
  obs::LogFile off;
  REQUIRE(off.open(""));
  CHECK_FALSE(off.enabled());
  off.write("dropped");
  CHECK(off.write_failures() == 0);

  obs::LogFile bad;
  CHECK_FALSE(bad.open("/nonexistent-dir/x.log"));
  CHECK_FALSE(bad.enabled());

  // /dev/full accepts the open and fails every write with ENOSPC.
  obs::LogFile full;
  if (full.open("/dev/full")) {
    full.write("line");
    full.write("line");
    CHECK(full.write_failures() == 2);
  }
}

TEST_CASE("AuditLog writes JSON lines to its file", "[observe]") {
  TmpDir dir;
  obs::AuditLog a;
  REQUIRE(a.open(dir.path("audit.log")));
  a.config_rejected(true, "/etc/portcullis/gateway.toml", "x.toml:1:1: error: \"bad\"");
  a.record(obs::kEventTlsReject, obs::Decision::deny, "tls_unknown_sni");
  const auto lines = read_lines(dir.path("audit.log"));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find(R"("event":"config_reload","decision":"deny","reason":"invalid_config",)"
                      R"("file":"/etc/portcullis/gateway.toml",)"
                      R"("detail":"x.toml:1:1: error: \"bad\""})") != std::string::npos);
  CHECK(lines[1].ends_with(
      R"("event":"tls_reject","decision":"deny","reason":"tls_unknown_sni"})"));
}

TEST_CASE("AuditLog chains its lines and continues the chain after a reopen", "[observe]") {
  TmpDir dir;
  const std::string path = dir.path("audit.log");
  {
    obs::AuditLog a;
    REQUIRE(a.open(path));
    a.record(obs::kEventTlsReject, obs::Decision::deny, "tls_unknown_sni");
    a.record(obs::kEventTlsReject, obs::Decision::deny, "tls_unknown_sni");
  }
  obs::AuditLog b;  // a restart: continues after the file's last line
  REQUIRE(b.open(path));
  b.record(obs::kEventConfigLoad, obs::Decision::allow, "valid");
  const auto lines = read_lines(path);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].starts_with(R"({"seq":1,"prev":"sha256:)"));
  CHECK(lines[2].starts_with(R"({"seq":3,)"));
  std::string all;
  for (const auto& l : lines) {
    all += l + "\n";
  }
  CHECK(obs::verify_chain({{"audit.log", all}}, obs::ChainHasher()).ok);
}

TEST_CASE("AccessLog samples successful requests only", "[observe]") {
  TmpDir dir;
  const std::string path = dir.path("access.log");
  obs::AccessLog log;
  REQUIRE(log.open(path));
  log.set_sample(0.0);
  obs::AccessRecord ok;
  ok.status = 200;
  obs::AccessRecord bad;
  bad.status = 400;
  bad.reason = "bad_request";
  for (int i = 0; i < 20; ++i) {
    log.log(ok);
  }
  log.log(bad);
  CHECK(read_lines(path).size() == 1);
  log.set_sample(1.0);
  log.log(ok);
  CHECK(read_lines(path).size() == 2);
  log.set_sample(0.5);
  for (int i = 0; i < 400; ++i) {
    log.log(ok);
  }
  const auto n = read_lines(path).size() - 2;
  CHECK(n > 100);  // about 200; xorshift is deterministic per thread, so this cannot flake
  CHECK(n < 300);
}
