// Forwarding headers written at the edge.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "gateway/http/forwarded.h"

using namespace portcullis::gateway::http;

namespace {

RequestHead spoofed() {
  RequestHead r;
  r.method = "GET";
  r.scheme = "https";
  r.authority = "api.acme.example";
  r.path = "/";
  r.headers = {{"x-forwarded-for", "6.6.6.6"},     {"x-forwarded-proto", "http"},
               {"x-forwarded-host", "evil"},        {"forwarded", "for=6.6.6.6"},
               {"x-forwarded-client-cert", "By=x"}, {"accept", "*/*"}};
  return r;
}

std::size_t count(const Headers& h, std::string_view name) {
  std::size_t n = 0;
  for (const Header& f : h) {
    n += f.name == name ? 1 : 0;
  }
  return n;
}

}  // namespace

TEST_CASE("forwarded: generate_request_id is a UUID v4 and unique") {
  std::set<std::string> seen;
  std::set<char> digits[36];
  for (int i = 0; i < 1000; ++i) {
    std::string id = generate_request_id();
    REQUIRE(id.size() == 36);
    CHECK(id[8] == '-');
    CHECK(id[13] == '-');
    CHECK(id[18] == '-');
    CHECK(id[23] == '-');
    CHECK(id[14] == '4');
    CHECK(std::string("89ab").find(id[19]) != std::string::npos);
    CHECK(valid_request_id(id));
    for (std::size_t p = 0; p < id.size(); ++p) {
      if (p != 8 && p != 13 && p != 18 && p != 23) {
        CHECK(std::string("0123456789abcdef").find(id[p]) != std::string::npos);
        digits[p].insert(id[p]);
      }
    }
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
  // Every random digit position takes every value (1000 draws: missing one is ~1e-27).
  for (std::size_t p : {0u, 7u, 9u, 12u, 15u, 17u, 20u, 22u, 24u, 35u}) {
    INFO("position " << p);
    CHECK(digits[p].size() == 16);
  }
}

TEST_CASE("forwarded: valid_request_id") {
  CHECK(valid_request_id("abc-123_x.Y"));
  CHECK(valid_request_id(std::string(128, 'a')));
  CHECK_FALSE(valid_request_id(""));
  CHECK_FALSE(valid_request_id(std::string(129, 'a')));
  CHECK_FALSE(valid_request_id("a b"));
  CHECK_FALSE(valid_request_id("a\r\nb"));
  CHECK_FALSE(valid_request_id("a;b"));
  CHECK_FALSE(valid_request_id("ä"));
}

TEST_CASE("forwarded: client-sent values are replaced by ours") {
  ConnFacts conn;
  conn.client_ip = "203.0.113.9";
  RequestHead r = spoofed();
  ForwardingInput in{&conn, "", "", "", "spiffe://mesh/gw"};
  std::string id = apply_forwarding(r, in);
  CHECK(valid_request_id(id));
  CHECK(*find_header(r.headers, "x-forwarded-for") == "203.0.113.9");
  CHECK(*find_header(r.headers, "x-forwarded-proto") == "https");
  CHECK(*find_header(r.headers, "x-forwarded-host") == "api.acme.example");
  CHECK(*find_header(r.headers, "forwarded") == "for=203.0.113.9;proto=https;host=api.acme.example");
  CHECK(*find_header(r.headers, "x-request-id") == id);
  CHECK(find_header(r.headers, "x-forwarded-client-cert") == nullptr);
  for (const char* n : {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded",
                        "x-request-id"}) {
    CHECK(count(r.headers, n) == 1);
  }
  CHECK(*find_header(r.headers, "accept") == "*/*");
}

TEST_CASE("forwarded: IPv6 is quoted and bracketed, odd hosts are quoted") {
  ConnFacts conn;
  conn.client_ip = "2001:db8::1";
  RequestHead r = spoofed();
  r.authority = "[2001:db8::2]:8443";
  apply_forwarding(r, ForwardingInput{&conn, "", "", "", ""});
  CHECK(*find_header(r.headers, "x-forwarded-for") == "2001:db8::1");
  CHECK(*find_header(r.headers, "forwarded") ==
        "for=\"[2001:db8::1]\";proto=https;host=\"[2001:db8::2]:8443\"");
  CHECK(forwarded_node("10.1.2.3") == "10.1.2.3");
}

TEST_CASE("forwarded: x-request-id kept when valid, replaced when not") {
  ConnFacts conn;
  conn.client_ip = "10.0.0.1";
  RequestHead r = spoofed();
  r.headers.push_back({"x-request-id", "trace-42"});
  CHECK(apply_forwarding(r, ForwardingInput{&conn, "", "", "", ""}) == "trace-42");
  CHECK(count(r.headers, "x-request-id") == 1);
  RequestHead bad = spoofed();
  bad.headers.push_back({"x-request-id", "no spaces allowed"});
  std::string id = apply_forwarding(bad, ForwardingInput{&conn, "", "", "", ""});
  CHECK(id != "no spaces allowed");
  CHECK(valid_request_id(id));
  CHECK(*find_header(bad.headers, "x-request-id") == id);
  CHECK(count(bad.headers, "x-request-id") == 1);
}

TEST_CASE("forwarded: XFCC in Envoy's format only for a verified client cert") {
  ConnFacts conn;
  conn.client_ip = "10.0.0.1";
  SECTION("URI") {
    RequestHead r = spoofed();
    apply_forwarding(r, ForwardingInput{&conn, "spiffe://mesh/ns/acme/sa/web", "CN=web",
                                        "ab12", "spiffe://mesh/ns/edge/sa/gw"});
    CHECK(*find_header(r.headers, "x-forwarded-client-cert") ==
          "By=spiffe://mesh/ns/edge/sa/gw;Hash=ab12;URI=spiffe://mesh/ns/acme/sa/web");
    CHECK(count(r.headers, "x-forwarded-client-cert") == 1);
  }
  SECTION("Subject, quoted and escaped") {
    RequestHead r = spoofed();
    apply_forwarding(r, ForwardingInput{&conn, "", "CN=a \"b\",O=Acme", "ff00", "gw"});
    CHECK(*find_header(r.headers, "x-forwarded-client-cert") ==
          "By=gw;Hash=ff00;Subject=\"CN=a \\\"b\\\",O=Acme\"");
  }
  SECTION("no certificate: the spoofed header is gone and nothing replaces it") {
    RequestHead r = spoofed();
    apply_forwarding(r, ForwardingInput{&conn, "spiffe://x", "", "", "gw"});
    CHECK(find_header(r.headers, "x-forwarded-client-cert") == nullptr);
  }
}
