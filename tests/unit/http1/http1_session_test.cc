// Http1Session driven with scripted bytes.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "gateway/http/body_limit.h"
#include "gateway/http/message.h"
#include "gateway/http/session.h"
#include "tests/unit/http1/fakes.h"

using namespace portcullis::gateway;
using namespace portcullis::gateway::http;
using namespace portcullis::gateway::http::testing;
using namespace std::string_literals;

namespace {

struct Harness {
  explicit Harness(SessionLimits limits = {}) {
    facts.client_ip = "192.0.2.7";
    facts.scheme = "https";
    session = make_http1_session(owner, facts, limits);
  }
  bool feed(std::string_view b) { return session->feed(b); }
  std::string pull() { return pull_all(*session); }

  FakeOwner owner;
  ConnFacts facts;
  std::unique_ptr<Session> session;
};

// Answers every request at once with "ok" and records nothing else.
void answer_ok(Harness& h) {
  h.owner.router = [](Exchange& ex) { reply(ex, 200, "ok"); };
}

const std::string kOk = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

bool starts_with(const std::string& s, std::string_view p) { return s.rfind(p, 0) == 0; }

}  // namespace

TEST_CASE("http1 session: simple GET, exact output and head building") {
  Harness h;
  h.owner.router = [](Exchange& ex) { reply(ex, 200, "hello", {{"x-a", "b"}}); };
  REQUIRE(h.feed("GET /a?b=1 HTTP/1.1\r\nHost: Example.COM:443\r\nX-Custom: v  \r\n"
                 "Connection: keep-alive, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
                 "Upgrade: foo\r\nProxy-Connection: x\r\n\r\n"));
  REQUIRE(h.owner.heads.size() == 1);
  const RequestHead& r = h.owner.heads[0];
  CHECK(r.method == "GET");
  CHECK(r.scheme == "https");
  CHECK(r.authority == "Example.COM:443");
  CHECK(r.path == "/a?b=1");
  CHECK_FALSE(r.has_body);
  CHECK_FALSE(r.content_length.has_value());
  REQUIRE(r.headers.size() == 1);
  CHECK(r.headers[0].name == "x-custom");
  CHECK(r.headers[0].value == "v");
  CHECK(h.pull() == "HTTP/1.1 200 OK\r\nx-a: b\r\ncontent-length: 5\r\n\r\nhello");
  CHECK(h.owner.done_statuses == std::vector<int>{200});
  CHECK(h.owner.started.empty());
  CHECK(h.session->idle());
  CHECK_FALSE(h.session->should_close());
  CHECK(h.session->want_read());
}

TEST_CASE("http1 session: unknown length response is chunked") {
  Harness h;
  Exchange* got = nullptr;
  h.owner.router = [&](Exchange& ex) { got = &ex; };
  REQUIRE(h.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  REQUIRE(got != nullptr);
  got->response().status = 200;
  got->response_head_ready();
  CHECK(h.pull() == "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
  got->response_body().append("hello");
  got->response_body_added();
  CHECK(h.pull() == "5\r\nhello\r\n");
  got->response_body().set_eof();
  got->response_body_added();
  CHECK(h.pull() == "0\r\n\r\n");
  CHECK(h.owner.done_statuses.size() == 1);
  CHECK_FALSE(h.session->should_close());
}

TEST_CASE("http1 session: chunked request body split at every byte offset") {
  const std::string req =
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
  for (std::size_t i = 0; i <= req.size(); ++i) {
    INFO("split at " << i);
    Harness h;
    Echo echo;
    h.owner.router = [&](Exchange& ex) { echo.start(ex); };
    REQUIRE(h.feed(req.substr(0, i)));
    REQUIRE(h.feed(req.substr(i)));
    REQUIRE(h.owner.heads.size() == 1);
    CHECK(h.owner.heads[0].has_body);
    CHECK_FALSE(h.owner.heads[0].content_length.has_value());
    CHECK(h.owner.heads[0].headers.empty());
    std::string out = h.pull();
    CHECK(out ==
          "HTTP/1.1 200 OK\r\nx-echo: 1\r\ntransfer-encoding: chunked\r\n\r\n"
          "b\r\nhello world\r\n0\r\n\r\n");
    CHECK(h.owner.done_statuses.size() == 1);
    CHECK(h.session->idle());
  }
}

TEST_CASE("http1 session: pipelining answers in order, one exchange at a time") {
  Harness h;
  std::vector<Exchange*> pending;
  h.owner.router = [&](Exchange& ex) { pending.push_back(&ex); };
  REQUIRE(h.feed("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
                 "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n"));
  REQUIRE(pending.size() == 1);
  CHECK(pending[0]->request().path == "/1");
  CHECK(h.pull().empty());
  CHECK_FALSE(h.session->idle());
  std::string out;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(pending.size() == static_cast<std::size_t>(i + 1));
    Exchange* ex = pending.back();
    reply(*ex, 200, ex->request().path);
    out += h.pull();
  }
  CHECK(out ==
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n/1"
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n/2"
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n/3");
  CHECK(h.owner.done_statuses.size() == 3);
  CHECK(h.session->idle());
}

TEST_CASE("http1 session: pipelined bytes are bounded while a response is pending") {
  SessionLimits lim;
  lim.max_request_headers = 256;
  Harness h(lim);
  REQUIRE(h.feed("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK(h.session->want_read());
  REQUIRE(h.feed(std::string(300, 'G')));
  CHECK_FALSE(h.session->want_read());
}

namespace {

void expect_rejected(const std::string& req, int status = 400) {
  INFO(req);
  Harness h;
  answer_ok(h);
  CHECK_FALSE(h.feed(req));
  CHECK(h.owner.heads.empty());
  REQUIRE(h.owner.rejected.size() == 1);
  CHECK(h.owner.rejected[0] == status);
  std::string out = h.pull();
  CHECK(starts_with(out, "HTTP/1.1 " + std::to_string(status) + " "));
  CHECK(out.find("connection: close\r\n") != std::string::npos);
  CHECK(h.session->should_close());
  CHECK_FALSE(h.session->want_read());
}

}  // namespace

TEST_CASE("http1 session: strict framing rejections") {
  SECTION("Content-Length with Transfer-Encoding") {
    expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                    "Content-Length: 5\r\n\r\n0\r\n\r\n");
  }
  SECTION("Transfer-Encoding other than a single final chunked") {
    expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n");
    expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
    expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n");
    expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunkedx\r\n\r\n");
  }
  SECTION("invalid, duplicate or conflicting Content-Length") {
    expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n");
    expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n");
    expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx");
    expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
    expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n");
  }
  SECTION("CR, LF or NUL in names or values") {
    expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n");
    expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nX: a\nb: c\r\n\r\n");
    expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"s);
    expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nX\0Y: ab\r\n\r\n"s);
    expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nX\rY: ab\r\n\r\n");
    expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n");
  }
  SECTION("obs-fold") {
    expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n");
    expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n");
  }
  SECTION("whitespace before the colon") {
    expect_rejected("GET / HTTP/1.1\r\nHost : a\r\n\r\n");
    expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nX\t: b\r\n\r\n");
  }
  SECTION("Host missing on HTTP/1.1, several Host fields, bad Host") {
    expect_rejected("GET / HTTP/1.1\r\nX: b\r\n\r\n");
    expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n");
    expect_rejected("GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
    expect_rejected("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n");
    // brackets only around an IPv6 literal (the egress destination rule too)
    expect_rejected("GET / HTTP/1.1\r\nHost: [acme.test]\r\n\r\n");
    expect_rejected("GET / HTTP/1.1\r\nHost: [127.0.0.1]:443\r\n\r\n");
  }
  SECTION("invalid method or target") {
    expect_rejected("G@T / HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_rejected("FOO / HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_rejected("get / HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_rejected("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_rejected("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_rejected("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_rejected("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_rejected("GET a HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_rejected("GET * HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_rejected("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_rejected("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n");
    expect_rejected("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n");
  }
  SECTION("bad versions and garbage") {
    expect_rejected("GET / HTTP/2.0\r\nHost: a\r\n\r\n");
    expect_rejected("GET / HTTP/1.2\r\nHost: a\r\n\r\n");
    expect_rejected("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    expect_rejected("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
  }
}

TEST_CASE("http1 session: malformed chunked body after the head aborts the exchange") {
  Harness h;
  Exchange* got = nullptr;
  h.owner.router = [&](Exchange& ex) { got = &ex; };
  REQUIRE(h.feed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"));
  REQUIRE(got != nullptr);
  CHECK_FALSE(h.feed("zz\r\n"));
  CHECK(h.owner.started.empty());  // exchange_done was called, the exchange is gone
  CHECK(starts_with(h.pull(), "HTTP/1.1 400 "));
  CHECK(h.session->should_close());
}

TEST_CASE("http1 session: 431 on header bytes and field count") {
  SECTION("too many bytes in one feed") {
    SessionLimits lim;
    lim.max_request_headers = 1024;
    Harness h(lim);
    answer_ok(h);
    CHECK_FALSE(h.feed("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(2000, 'v') + "\r\n\r\n"));
    CHECK(h.owner.heads.empty());
    CHECK(h.owner.rejected == std::vector<int>{431});
    CHECK(h.owner.reject_reasons == std::vector<Reason>{Reason::headers_too_large});
    CHECK(starts_with(h.pull(), "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    CHECK(h.session->should_close());
  }
  SECTION("too many bytes, fed in small pieces (long target)") {
    SessionLimits lim;
    lim.max_request_headers = 1024;
    Harness h(lim);
    answer_ok(h);
    std::string req = "GET /" + std::string(1500, 'p') + " HTTP/1.1\r\nHost: a\r\n\r\n";
    bool ok = true;
    for (std::size_t i = 0; i < req.size() && ok; i += 7) {
      ok = h.feed(req.substr(i, 7));
    }
    CHECK_FALSE(ok);
    CHECK(h.owner.heads.empty());
    CHECK(h.owner.rejected == std::vector<int>{431});
  }
  SECTION("exactly under the byte limit passes") {
    SessionLimits lim;
    lim.max_request_headers = 1024;
    Harness h(lim);
    answer_ok(h);
    CHECK(h.feed("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(900, 'v') + "\r\n\r\n"));
    CHECK(h.pull() == kOk);
  }
  SECTION("too many fields") {
    SessionLimits lim;
    lim.max_header_count = 5;
    Harness h(lim);
    answer_ok(h);
    std::string req = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 5; ++i) {
      req += "X-" + std::to_string(i) + ": v\r\n";
    }
    CHECK_FALSE(h.feed(req + "\r\n"));
    CHECK(h.owner.rejected == std::vector<int>{431});
    Harness h2(lim);
    answer_ok(h2);
    CHECK(h2.feed("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"));
    CHECK(h2.pull() == kOk);
  }
}

TEST_CASE("http1 session: HEAD gets the length but no body") {
  Harness h;
  h.owner.router = [](Exchange& ex) {
    ex.response().status = 200;
    ex.response().content_length = 10;
    ex.response().has_body = false;
    ex.response_head_ready();
    ex.response_body().set_eof();
    ex.response_body_added();
  };
  REQUIRE(h.feed("HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK(h.pull() == "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n");
  answer_ok(h);
  REQUIRE(h.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK(h.pull() == kOk);
}

TEST_CASE("http1 session: local reply to HEAD drops the body line") {
  Harness h;
  h.owner.router = [](Exchange& ex) { ex.local_reply(404, Reason::no_route, "no route"); };
  REQUIRE(h.feed("HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK(h.pull() ==
        "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 9\r\n\r\n");
  CHECK_FALSE(h.session->should_close());
}

TEST_CASE("http1 session: 204 and 304 carry no framing") {
  Harness h;
  h.owner.router = [](Exchange& ex) {
    ex.response().status = 204;
    ex.response().has_body = false;
    ex.response_head_ready();
    ex.response_body().set_eof();
    ex.response_body_added();
  };
  REQUIRE(h.feed("DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK(h.pull() == "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST_CASE("http1 session: Expect 100-continue") {
  SECTION("the 100 goes out when the upstream side asks for the body") {
    Harness h;
    Echo echo;
    Exchange* seen = nullptr;
    h.owner.router = [&](Exchange& ex) { seen = &ex; };
    REQUIRE(h.feed("PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                   "Content-Length: 5\r\n\r\n"));
    REQUIRE(h.owner.heads.size() == 1);
    CHECK(find_header(h.owner.heads[0].headers, "expect") == nullptr);
    CHECK(h.owner.heads[0].expect_continue);
    CHECK(h.owner.heads[0].content_length == std::optional<std::uint64_t>(5));
    CHECK(h.pull().empty());  // not at the head: the request was not admitted yet
    REQUIRE(seen != nullptr);
    seen->continue_request();
    seen->continue_request();  // once only
    echo.start(*seen);
    std::string out = h.pull();
    CHECK(starts_with(out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"));
    REQUIRE(h.feed("hello"));
    out += h.pull();
    CHECK(out ==
          "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nx-echo: 1\r\ncontent-length: 5\r\n"
          "\r\nhello");
    CHECK_FALSE(h.session->should_close());
  }
  SECTION("a refusal before any upstream gets no 100 and closes") {
    Harness h;
    h.owner.router = [](Exchange& ex) { ex.local_reply(404, Reason::no_route, "no route"); };
    h.feed("PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    const std::string out = h.pull();
    CHECK(starts_with(out, "HTTP/1.1 404 Not Found\r\n"));
    CHECK(out.find("100 Continue") == std::string::npos);
    // A client that sends the body anyway has it read and dropped, then the connection closes.
    CHECK(h.session->lingering());
    h.feed("hello");
    CHECK(h.session->should_close());
  }
  SECTION("any other expectation is 417") {
    Harness h;
    answer_ok(h);
    h.feed("PUT /u HTTP/1.1\r\nHost: a\r\nExpect: foo\r\nContent-Length: 5\r\n\r\n");
    CHECK(starts_with(h.pull(), "HTTP/1.1 417 Expectation Failed\r\n"));
    CHECK(h.owner.heads.empty());
  }
}

TEST_CASE("http1 session: Connection close and max requests per connection") {
  SECTION("client asks to close") {
    Harness h;
    answer_ok(h);
    h.feed("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    CHECK(h.pull() == "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    CHECK(h.session->should_close());
  }
  SECTION("HTTP/1.0 without keep-alive closes, and needs no Host") {
    Harness h;
    answer_ok(h);
    h.feed("GET / HTTP/1.0\r\n\r\n");
    CHECK(h.owner.heads.at(0).authority.empty());
    CHECK(h.pull() == "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    CHECK(h.session->should_close());
  }
  SECTION("HTTP/1.0 keep-alive stays open") {
    Harness h;
    answer_ok(h);
    h.feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK(h.pull() == "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok");
    CHECK_FALSE(h.session->should_close());
  }
  SECTION("max_requests_per_connection") {
    SessionLimits lim;
    lim.max_requests_per_connection = 2;
    Harness h(lim);
    answer_ok(h);
    h.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
           "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(h.pull() == kOk + "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    CHECK(h.owner.heads.size() == 2);
    CHECK(h.session->should_close());
  }
}

TEST_CASE("http1 session: absolute-form target wins over Host") {
  Harness h;
  answer_ok(h);
  h.feed("GET http://Other.example:8443?q=1 HTTP/1.1\r\nHost: ignored\r\n\r\n");
  REQUIRE(h.owner.heads.size() == 1);
  CHECK(h.owner.heads[0].authority == "Other.example:8443");
  CHECK(h.owner.heads[0].path == "/?q=1");
  CHECK(find_header(h.owner.heads[0].headers, "host") == nullptr);
  Harness h2;
  answer_ok(h2);
  h2.feed("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
  REQUIRE(h2.owner.heads.size() == 1);
  CHECK(h2.owner.heads[0].path == "*");
}

TEST_CASE("http1 session: drain") {
  SECTION("idle closes at once") {
    Harness h;
    CHECK_FALSE(h.session->should_close());
    h.session->start_drain();
    CHECK(h.session->should_close());
  }
  SECTION("in flight: next response says close") {
    Harness h;
    Exchange* got = nullptr;
    h.owner.router = [&](Exchange& ex) { got = &ex; };
    h.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    h.session->start_drain();
    CHECK_FALSE(h.session->should_close());
    reply(*got, 200, "ok");
    CHECK(h.pull() == "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    CHECK(h.session->should_close());
  }
}

TEST_CASE("http1 session: upstream abort after the head truncates") {
  Harness h;
  Exchange* got = nullptr;
  h.owner.router = [&](Exchange& ex) { got = &ex; };
  h.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  got->response().status = 200;
  got->response().content_length = 10;
  got->response_head_ready();
  got->response_body().append("abc");
  got->response_body_added();
  std::string out = h.pull();
  CHECK(out == "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc");
  got->fail(502, Reason::upstream_reset);
  CHECK(h.session->should_close());
  CHECK(h.pull().empty());
  CHECK(h.owner.done_statuses.size() == 1);
}

TEST_CASE("http1 session: upstream failure before the head is a local 502") {
  Harness h;
  Exchange* got = nullptr;
  h.owner.router = [&](Exchange& ex) { got = &ex; };
  h.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  got->fail(502, Reason::upstream_tls_failed);
  CHECK(h.pull() ==
        "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: 38\r\n\r\n"
        "upstream TLS or identity check failed\n");
  CHECK_FALSE(h.session->should_close());
}

TEST_CASE("http1 session: a local reply during the upload reads the rest, then closes") {
  Harness h;
  h.owner.router = [](Exchange& ex) { ex.local_reply(404, Reason::no_route, "no route"); };
  REQUIRE(h.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc"));
  std::string out = h.pull();
  CHECK(starts_with(out, "HTTP/1.1 404 Not Found\r\n"));
  CHECK(out.find("connection: close\r\n") != std::string::npos);
  // Closing now would reset the connection with the upload unread (the answer can be lost).
  CHECK_FALSE(h.session->should_close());
  CHECK(h.session->lingering());
  CHECK_FALSE(h.session->idle());
  CHECK(h.session->want_read());
  REQUIRE(h.feed(std::string(50, 'x')));
  CHECK_FALSE(h.session->should_close());
  h.feed(std::string(47, 'x') + "GET / HTTP/1.1\r\n\r\n");
  CHECK(h.pull().empty());  // nothing after the close it announced
  CHECK(h.session->should_close());
  CHECK(h.owner.heads.size() == 1);
}

TEST_CASE("http1 session: the dropped upload is bounded") {
  Harness h;
  h.owner.router = [](Exchange& ex) { ex.local_reply(404, Reason::no_route, "no route"); };
  REQUIRE(h.feed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
  CHECK(starts_with(h.pull(), "HTTP/1.1 404 Not Found\r\n"));
  const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
  std::size_t fed = 0;
  for (int i = 0; i < 200 && !h.session->should_close(); ++i) {
    h.feed(chunk);
    fed += 0x10000;
  }
  CHECK(h.session->should_close());
  CHECK(fed > kMaxDiscard);
  CHECK(fed <= kMaxDiscard + 0x20000);
}

TEST_CASE("http1 session: an early upstream answer without close keeps the connection") {
  Harness h;
  struct Up : UpstreamSide {  // answers at once and never reads the body
    void on_request_body(Exchange&) noexcept override {}
    void on_response_body_consumed(Exchange&, std::size_t) noexcept override {}
    void on_downstream_abort(Exchange&) noexcept override {}
  } up;
  h.owner.router = [&](Exchange& ex) {
    ex.attach_upstream(up);
    reply(ex, 200, "ok");
  };
  REQUIRE(h.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"));
  CHECK(h.pull() == kOk);
  CHECK(h.session->lingering());
  REQUIRE(h.feed("defghijGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK(h.pull() == kOk);
  CHECK_FALSE(h.session->should_close());
  CHECK(h.owner.heads.size() == 2);
}

TEST_CASE("http1 session: max_request_body") {
  SessionLimits limits;
  limits.max_request_body = 10;
  SECTION("a Content-Length over it is 413 before routing, with no 100") {
    Harness h(limits);
    answer_ok(h);
    REQUIRE(h.feed("PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                   "Content-Length: 11\r\n\r\n"));
    const std::string out = h.pull();
    CHECK(starts_with(out, "HTTP/1.1 413 Content Too Large\r\n"));
    CHECK(out.find("100 Continue") == std::string::npos);
    CHECK(out.find("connection: close\r\n") != std::string::npos);
    CHECK(h.owner.heads.empty());
    CHECK(h.owner.done_statuses == std::vector<int>{413});
  }
  SECTION("exactly the limit passes") {
    Harness h(limits);
    answer_ok(h);
    REQUIRE(h.feed("PUT /u HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"));
    CHECK(h.pull() == kOk);
  }
  SECTION("a chunked body growing past it: the upstream lets go, the client gets 413") {
    Harness h(limits);
    struct Up : UpstreamSide {
      void on_request_body(Exchange& ex) noexcept override {
        got += ex.request_body().size();
        ex.request_body().consume(ex.request_body().size());
        eof = ex.request_body().eof();
      }
      void on_response_body_consumed(Exchange&, std::size_t) noexcept override {}
      void on_downstream_abort(Exchange&) noexcept override { ++aborts; }
      std::size_t got = 0;
      bool eof = false;
      int aborts = 0;
    } up;
    h.owner.router = [&](Exchange& ex) { ex.attach_upstream(up); };
    REQUIRE(h.feed("PUT /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "8\r\n01234567\r\n"));
    CHECK(up.got == 8);
    h.feed("8\r\n01234567\r\n");
    CHECK(up.got == 8);
    CHECK(up.aborts == 1);
    CHECK_FALSE(up.eof);
    const std::string out = h.pull();
    CHECK(starts_with(out, "HTTP/1.1 413 Content Too Large\r\n"));
    CHECK(out.find("connection: close\r\n") != std::string::npos);
    CHECK(h.session->lingering());
    h.feed("8\r\n01234567\r\n0\r\n\r\n");
    CHECK(up.got == 8);
    CHECK(h.session->should_close());
  }
}

TEST_CASE("http1 session: abort destroys the exchange and tells the upstream side") {
  Harness h;
  Echo echo;
  struct Up : UpstreamSide {
    void on_request_body(Exchange&) noexcept override {}
    void on_response_body_consumed(Exchange&, std::size_t) noexcept override {}
    void on_downstream_abort(Exchange&) noexcept override { ++aborts; }
    int aborts = 0;
  } up;
  h.owner.router = [&](Exchange& ex) { ex.attach_upstream(up); };
  h.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  h.session->abort();
  CHECK(up.aborts == 1);
  CHECK(h.owner.started.empty());
}

TEST_CASE("http1 session: request body backpressure") {
  Harness h;
  Exchange* got = nullptr;
  h.owner.router = [&](Exchange& ex) { got = &ex; };
  h.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n\r\n");
  REQUIRE(got != nullptr);
  CHECK(h.session->want_read());
  h.feed(std::string(kBodyHighWatermark, 'x'));
  CHECK_FALSE(h.session->want_read());
  int before = h.owner.output_ready_calls;
  got->request_body().consume(kBodyHighWatermark);
  got->request_body_consumed(kBodyHighWatermark);
  CHECK(h.owner.output_ready_calls > before);
  CHECK(h.session->want_read());
}

TEST_CASE("http1 session: obs-fold is caught at any split, spaces inside values are not") {
  const std::string fold = "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n";
  const std::string plain = "GET / HTTP/1.1\r\nHost: a\r\nX: a b  c\r\nY:\r\n\r\n";
  for (std::size_t i = 0; i <= fold.size(); ++i) {
    INFO("split at " << i);
    Harness h;
    answer_ok(h);
    bool ok = h.feed(fold.substr(0, i)) && h.feed(fold.substr(i));
    CHECK_FALSE(ok);
    CHECK(h.owner.heads.empty());
  }
  for (std::size_t i = 0; i <= plain.size(); ++i) {
    INFO("split at " << i);
    Harness h;
    answer_ok(h);
    REQUIRE(h.feed(plain.substr(0, i)));
    REQUIRE(h.feed(plain.substr(i)));
    REQUIRE(h.owner.heads.size() == 1);
    CHECK(*find_header(h.owner.heads[0].headers, "x") == "a b  c");
    CHECK(*find_header(h.owner.heads[0].headers, "y") == "");
  }
}

TEST_CASE("body_limit: declared and received lengths, and the drop budget") {
  const BodyLimit none{};
  CHECK_FALSE(none.refuses(std::uint64_t{1} << 40));
  CHECK_FALSE(none.over(std::uint64_t{1} << 40));
  const BodyLimit ten{10};
  CHECK_FALSE(ten.refuses(std::nullopt));
  CHECK_FALSE(ten.refuses(10));
  CHECK(ten.refuses(11));
  CHECK_FALSE(ten.over(10));
  CHECK(ten.over(11));
  DiscardBudget d;
  CHECK(d.drop(kMaxDiscard));
  CHECK_FALSE(d.spent());
  CHECK_FALSE(d.drop(1));
  CHECK(d.spent());
  d.reset();
  CHECK(d.dropped() == 0);
}
