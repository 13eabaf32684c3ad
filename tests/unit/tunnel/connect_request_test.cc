// Unit tests for gateway/egress/connect_request: the strict CONNECT request-head parser.
#include <catch2/catch.hpp>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gateway/egress/connect_request.h"

using portcullis::gateway::egress::ConnectRequest;
using portcullis::gateway::egress::looks_like_connect;
using portcullis::gateway::egress::parse_connect;
using State = ConnectRequest::State;

namespace {

std::string head(const std::string& target, const std::string& fields = "") {
  return "CONNECT " + target + " HTTP/1.1\r\n" + fields + "\r\n";
}

// Feeds `bytes` one byte more at a time: every strict prefix must answer need_more.
ConnectRequest byte_at_a_time(const std::string& bytes) {
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const ConnectRequest r = parse_connect(std::string_view(bytes).substr(0, n));
    INFO("prefix " << n);
    REQUIRE(r.state == State::need_more);
  }
  return parse_connect(bytes);
}

}  // namespace

TEST_CASE("looks_like_connect needs \"CONNECT \" exactly") {
  CHECK(looks_like_connect("CONNECT example.com:443 HTTP/1.1\r\n"));
  CHECK(looks_like_connect("CONNECT "));
  CHECK_FALSE(looks_like_connect("CONNECT"));
  CHECK_FALSE(looks_like_connect("CONN"));
  CHECK_FALSE(looks_like_connect(""));
  CHECK_FALSE(looks_like_connect("CONNECTX"));
  CHECK_FALSE(looks_like_connect("connect a:1 HTTP/1.1"));
  CHECK_FALSE(looks_like_connect("GET / HTTP/1.1\r\n"));
  CHECK_FALSE(looks_like_connect("\x16\x03\x01\x02\x00\x01\x00\x01"));
}

TEST_CASE("a valid CONNECT head parses byte at a time and leaves pipelined bytes") {
  const std::string h = head("Example.COM:443", "Host: example.com:443\r\nUser-Agent: t/1\r\n");
  const std::string tls = "\x16\x03\x01\x00\x05hello";
  const ConnectRequest r = byte_at_a_time(h);
  REQUIRE(r.state == State::ok);
  CHECK(r.host == "example.com");
  CHECK(r.port == 443);
  CHECK(r.consumed == h.size());

  const ConnectRequest with_tls = parse_connect(h + tls);
  REQUIRE(with_tls.state == State::ok);
  CHECK(with_tls.consumed == h.size());
  CHECK(with_tls.host == "example.com");
}

TEST_CASE("CONNECT targets: names, IPv4, IPv6 and ports") {
  const std::vector<std::tuple<std::string, std::string, int>> good = {
      {"a:1", "a", 1},
      {"db-1.internal.example:65535", "db-1.internal.example", 65535},
      {"10.0.0.1:5432", "10.0.0.1", 5432},
      {"255.255.255.255:80", "255.255.255.255", 80},
      {"[2001:DB8::1]:8443", "2001:db8::1", 8443},
      {"[::1]:443", "::1", 443},
      {"[::ffff:10.0.0.1]:443", "::ffff:10.0.0.1", 443},
      {"xn--bcher-kva.example:443", "xn--bcher-kva.example", 443},
      {"1a.example:443", "1a.example", 443},
      {"example.com:0443", "example.com", 443},
  };
  for (const auto& [target, host, port] : good) {
    INFO(target);
    const ConnectRequest r = parse_connect(head(target));
    REQUIRE(r.state == State::ok);
    CHECK(r.host == host);
    CHECK(r.port == port);
  }
}

TEST_CASE("bad CONNECT targets are 400") {
  const std::vector<std::string> bad = {
      "example.com",             // no port
      "example.com:",            // empty port
      "example.com:0",           // port 0
      "example.com:65536",       // too big
      "example.com:123456",      // too long
      "example.com:44a",         // not digits
      "example.com:-1",
      ":443",                    // empty host
      "http://example.com:443",  // absolute-form
      "/index.html",             // origin-form
      "*",                       // asterisk-form
      "example.com.:443",        // trailing dot
      "a..b:443",                // empty label
      "-a.example:443",          // leading hyphen
      "a-.example:443",          // trailing hyphen
      "a_b.example:443",         // not LDH
      "ex ample.com:443",
      "user@example.com:443",    // userinfo
      "127.1:80",                // inet_aton shorthand
      "0x7f000001:80",           // hex IPv4
      "0x7f.0.0.1:80",
      "010.0.0.1:80",            // octal-looking
      "256.0.0.1:80",
      "1.2.3.4.5:80",
      "foo.123:80",              // numeric last label that is not a dotted quad
      "[::1:443",                // unclosed bracket
      "[]:443",
      "[fe80::1%eth0]:443",      // zone id
      "[::g]:443",
      "[1.2.3.4]:443",           // IPv4 in brackets
      "::1:443",                 // IPv6 without brackets
      "[::1]443",
      std::string(64, 'a') + ".example:443",  // label too long
      std::string(250, 'a').replace(60, 1, ".").replace(120, 1, ".").replace(180, 1, ".") +
          ".com:443",  // name too long (254 bytes)
  };
  for (const auto& target : bad) {
    INFO(target);
    const ConnectRequest r = parse_connect(head(target));
    CHECK(r.state == State::error);
    CHECK(r.status == 400);
    CHECK_FALSE(r.error.empty());
  }
}

TEST_CASE("the request line must be exactly CONNECT SP authority SP HTTP/1.1") {
  const std::vector<std::pair<std::string, int>> cases = {
      {"GET / HTTP/1.1\r\n\r\n", 405},
      {"POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405},
      {"connect a:1 HTTP/1.1\r\n\r\n", 405},
      {"CONNECTS a:1 HTTP/1.1\r\n\r\n", 405},
      {"CONNECT a:1 HTTP/1.0\r\n\r\n", 400},
      {"CONNECT a:1 HTTP/2\r\n\r\n", 400},
      {"CONNECT a:1 http/1.1\r\n\r\n", 400},
      {"CONNECT a:1\r\n\r\n", 400},
      {"CONNECT  a:1 HTTP/1.1\r\n\r\n", 400},
      {"CONNECT a:1  HTTP/1.1\r\n\r\n", 400},
      {"CONNECT a:1 HTTP/1.1 \r\n\r\n", 400},
      {"CONNECT\ta:1 HTTP/1.1\r\n\r\n", 400},
      {" CONNECT a:1 HTTP/1.1\r\n\r\n", 400},
      {"\r\nCONNECT a:1 HTTP/1.1\r\n\r\n", 400},
      {"CONNECT\r\n\r\n", 400},
      {"\x16\x03\x01\x00\x10", 400},
  };
  for (const auto& [bytes, status] : cases) {
    INFO(bytes);
    const ConnectRequest r = parse_connect(bytes);
    CHECK(r.state == State::error);
    CHECK(r.status == status);
  }
}

TEST_CASE("header field rules") {
  const std::vector<std::string> ok_fields = {
      "Host: a:1\r\n",
      "Host:a:1\r\n",
      "X-Empty:\r\n",
      "X-Tab:\tv\t\r\n",
      "Content-Length: 0\r\n",
      "content-length:000\r\n",
      "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n",
      "X-Obs-Text: caf\xc3\xa9\r\n",
  };
  for (const auto& f : ok_fields) {
    INFO(f);
    const ConnectRequest r = parse_connect(head("a:1", f));
    CHECK(r.state == State::ok);
  }
  const std::vector<std::string> bad_fields = {
      "Host : a:1\r\n",                 // space before colon
      " Host: a:1\r\n",                 // leading whitespace (obs-fold of the request line)
      "Host: a\r\n  continued\r\n",     // obs-fold
      "Host: a\r\n\tcontinued\r\n",
      "NoColon\r\n",
      ": value\r\n",                    // empty name
      "Bad(Name): v\r\n",
      std::string("X: a\0b\r\n", 8),   // NUL
      "X: a\x01b\r\n",                  // control byte
      "X: a\x7f\r\n",                   // DEL
      "Content-Length: 5\r\n",          // a CONNECT carries no body
      "Content-Length: 0\r\nContent-Length: 1\r\n",
      "Content-Length:\r\n",
      "Content-Length: 0x0\r\n",
      "Content-Length: -0\r\n",
      "Transfer-Encoding: chunked\r\n",
      "transfer-encoding: identity\r\n",
      "Transfer-Encoding:\r\n",
  };
  for (const auto& f : bad_fields) {
    INFO(f);
    const ConnectRequest r = parse_connect(head("a:1", f));
    CHECK(r.state == State::error);
    CHECK(r.status == 400);
  }
}

TEST_CASE("line endings must be CRLF") {
  for (const std::string bytes : {"CONNECT a:1 HTTP/1.1\n\r\n", "CONNECT a:1 HTTP/1.1\r\n\n",
                                  "CONNECT a:1 HTTP/1.1\r\nHost: a\n\r\n",
                                  "CONNECT a:1 HTTP/1.1\r\nHost: a\rX\r\n\r\n",
                                  "CONNECT a:1 HTTP/1.1\r\r\n\r\n"}) {
    INFO(bytes);
    const ConnectRequest r = parse_connect(bytes);
    CHECK(r.state == State::error);
    CHECK(r.status == 400);
  }
  // A CR at the very end of the buffer may still be followed by LF.
  CHECK(parse_connect("CONNECT a:1 HTTP/1.1\r").state == State::need_more);
  CHECK(parse_connect("CONNECT a:1 HTTP/1.1\r\n\r").state == State::need_more);
}

TEST_CASE("at most 100 header fields") {
  std::string fields;
  for (int i = 0; i < 100; ++i) {
    fields += "X-" + std::to_string(i) + ": v\r\n";
  }
  const ConnectRequest hundred = parse_connect(head("a:1", fields));
  CHECK(hundred.state == State::ok);
  const ConnectRequest more = parse_connect(head("a:1", fields + "X-100: v\r\n"));
  CHECK(more.state == State::error);
  CHECK(more.status == 431);
}

TEST_CASE("a head larger than max_head is 431") {
  const std::string h = head("example.com:443", "X: " + std::string(100, 'v') + "\r\n");
  CHECK(parse_connect(h, h.size()).state == State::ok);
  const ConnectRequest big = parse_connect(h, h.size() - 1);
  CHECK(big.state == State::error);
  CHECK(big.status == 431);
  // Without a terminator: need_more below the limit, 431 once the limit is reached.
  const std::string partial = h.substr(0, 60);
  CHECK(parse_connect(partial, 61).state == State::need_more);
  const ConnectRequest full = parse_connect(partial, 60);
  CHECK(full.state == State::error);
  CHECK(full.status == 431);
  // The default limit is 64 KiB.
  const std::string huge = "CONNECT a:1 HTTP/1.1\r\nX: " + std::string(64 * 1024, 'v');
  const ConnectRequest d = parse_connect(huge);
  CHECK(d.state == State::error);
  CHECK(d.status == 431);
}

TEST_CASE("errors are stable as bytes arrive one at a time") {
  const std::vector<std::string> bad = {
      "GET / HTTP/1.1\r\n\r\n",
      "CONNECT a:1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "CONNECT a HTTP/1.1\r\n\r\n",
      "CONNECT a:1 HTTP/1.1\r\nHost: a\n\r\n",
      "CONNECT a:1 HTTP/1.1\r\n folded\r\n\r\n",
  };
  for (const auto& bytes : bad) {
    INFO(bytes);
    const ConnectRequest final_r = parse_connect(bytes);
    REQUIRE(final_r.state == State::error);
    bool errored = false;
    for (std::size_t n = 0; n <= bytes.size(); ++n) {
      const ConnectRequest r = parse_connect(std::string_view(bytes).substr(0, n));
      if (errored) {
        CHECK(r.state == State::error);
      }
      if (r.state == State::error) {
        errored = true;
        CHECK(r.status == final_r.status);
      }
    }
    CHECK(errored);
  }
  // A wrong method is known as soon as its token ends.
  CHECK(parse_connect("GET ").status == 405);
  CHECK(parse_connect("GET ").state == State::error);
  CHECK(parse_connect("CONNEC").state == State::need_more);
}

TEST_CASE("never reads past the buffer") {
  // The view ends inside a larger string; the bytes after it must not be seen.
  const std::string backing = head("a:1") + "garbage";
  const std::string_view view(backing.data(), head("a:1").size() - 1);
  CHECK(parse_connect(view).state == State::need_more);
}
