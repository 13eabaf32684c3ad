// Strict HTTP/1.1 framing around llhttp 8.1 (bare CR, chunk framing), underscore spellings of
// gateway-owned fields, malformed upstream responses. Raw bytes throughout.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "gateway/http/client.h"
#include "gateway/http/message.h"
#include "gateway/http/session.h"
#include "gateway/http/strict_framing.h"
#include "tests/unit/http1/fakes.h"

using namespace portcullis::gateway;
using namespace portcullis::gateway::http;
using namespace portcullis::gateway::http::testing;
using h1::StrictFraming;

namespace {

// Scans `bytes` split at `cut`, giving the body framing after each head; true if accepted.
bool scan_all(const std::string& bytes, std::size_t cut, StrictFraming::Body kind,
              std::uint64_t len = 0) {
  StrictFraming s;
  std::size_t pos = 0;
  for (int guard = 0; guard < 64 && pos < bytes.size(); ++guard) {
    const std::size_t end = pos < cut ? cut : bytes.size();
    const StrictFraming::Result r = s.scan(bytes.data() + pos, end - pos);
    pos += r.n;
    if (!r.ok) {
      return false;
    }
    if (s.awaiting_body()) {
      s.body(kind, len);
    }
  }
  return pos == bytes.size() && !s.failed();
}

bool accepted_at_every_cut(const std::string& bytes, StrictFraming::Body kind,
                           std::uint64_t len = 0) {
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    if (!scan_all(bytes, cut, kind, len)) {
      INFO("cut at " << cut);
      return false;
    }
  }
  return true;
}

bool refused_at_every_cut(const std::string& bytes, StrictFraming::Body kind) {
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    if (scan_all(bytes, cut, kind)) {
      INFO("cut at " << cut);
      return false;
    }
  }
  return true;
}

const std::string kChunkedHead = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

bool starts_with(const std::string& s, std::string_view p) { return s.rfind(p, 0) == 0; }

struct Harness {
  Harness() {
    facts.scheme = "https";
    session = make_http1_session(owner, facts, SessionLimits{});
    owner.router = [](Exchange& ex) { reply(ex, 200, "ok"); };
  }
  FakeOwner owner;
  ConnFacts facts;
  std::unique_ptr<Session> session;
};

}  // namespace

TEST_CASE("strict framing scanner: clean messages pass, split anywhere") {
  CHECK(accepted_at_every_cut("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
                              StrictFraming::Body::none));
  CHECK(accepted_at_every_cut(kChunkedHead + "3;ext=1\r\na\rc\r\n10\r\n0123456789abcdef\r\n0\r\n"
                                  "X-T: 1\r\n\r\n" + kChunkedHead + "0\r\n\r\n",
                              StrictFraming::Body::chunked));
  // Body bytes are skipped by count: a CR inside them is data.
  CHECK(accepted_at_every_cut("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n\r\rX",
                              StrictFraming::Body::length, 3));
}

TEST_CASE("strict framing scanner: bare CR and bad chunk framing are refused") {
  SECTION("bare CR in a head") {
    CHECK(refused_at_every_cut("GET / HTTP/1.1\rHost: a\r\n\r\n", StrictFraming::Body::none));
    CHECK(refused_at_every_cut("GET / HTTP/1.1\r\nHost: a\r\rX: b\r\n\r\n",
                               StrictFraming::Body::none));
    CHECK(refused_at_every_cut("GET / HTTP/1.1\r\nHost: a\r\n\rGET /x HTTP/1.1\r\n\r\n",
                               StrictFraming::Body::none));
  }
  SECTION("bare CR in a chunk-size line or its extension") {
    CHECK(refused_at_every_cut(kChunkedHead + "3\rabc\r\n0\r\n\r\n", StrictFraming::Body::chunked));
    CHECK(refused_at_every_cut(kChunkedHead + "3;a=\rGET /x HTTP/1.1\r\n\r\nabc\r\n0\r\n\r\n",
                               StrictFraming::Body::chunked));
  }
  SECTION("anything but CRLF after chunk data") {
    CHECK(refused_at_every_cut(kChunkedHead + "3\r\nabcXY0\r\n\r\n", StrictFraming::Body::chunked));
    CHECK(refused_at_every_cut(kChunkedHead + "3\r\nabc\rX0\r\n\r\n", StrictFraming::Body::chunked));
    CHECK(refused_at_every_cut(kChunkedHead + "3\r\nabc\n0\r\n\r\n", StrictFraming::Body::chunked));
  }
  SECTION("bare CR in trailers, missing or overlong chunk size") {
    CHECK(refused_at_every_cut(kChunkedHead + "0\r\nX: a\rb\r\n\r\n", StrictFraming::Body::chunked));
    CHECK(refused_at_every_cut(kChunkedHead + ";x\r\n", StrictFraming::Body::chunked));
    CHECK(refused_at_every_cut(kChunkedHead + "00000000000000001\r\n",
                               StrictFraming::Body::chunked));
  }
}

TEST_CASE("http1 session: bare CR and bad chunk framing are 400 and never forwarded") {
  const std::string smuggled[] = {
      "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\rGET /admin HTTP/1.1\r\n\r\n",
      kChunkedHead + "2;\rGET /admin HTTP/1.1\r\nHost: a\r\n\r\nab\r\n0\r\n\r\n",
      kChunkedHead + "3\r\nabcXY0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
  };
  for (const std::string& req : smuggled) {
    INFO(req);
    Harness h;
    Exchange* got = nullptr;
    h.owner.router = [&](Exchange& ex) { got = &ex; };
    CHECK_FALSE(h.session->feed(req));
    for (const RequestHead& head : h.owner.heads) {
      CHECK(head.path == "/");  // the hidden request never became one
    }
    CHECK(h.owner.heads.size() <= 1);
    CHECK(h.owner.started.empty());  // a started exchange was abandoned, not forwarded whole
    REQUIRE(h.owner.rejected.size() == 1);
    CHECK(h.owner.rejected[0] == 400);
    CHECK(h.owner.reject_reasons[0] == Reason::http_malformed);
    CHECK(starts_with(pull_all(*h.session), "HTTP/1.1 400 "));
  }
}

TEST_CASE("http1 session: underscore spellings of gateway-owned fields are dropped") {
  Harness h;
  REQUIRE(h.session->feed("GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 6.6.6.6\r\n"
                          "x_forwarded_client_cert: By=evil\r\nX_Request_Id: forged\r\n"
                          "Transfer_Encoding: chunked\r\nContent_Length: 5\r\n"
                          "X_Forwarded_Proto: http\r\nX_Forwarded_Host: evil\r\n"
                          "X_Custom_Thing: kept\r\nX-Forwarded_For: 6.6.6.7\r\n\r\n"));
  REQUIRE(h.owner.heads.size() == 1);
  const Headers& got = h.owner.heads[0].headers;
  REQUIRE(got.size() == 1);
  CHECK(got[0].name == "x_custom_thing");
  CHECK(is_owned_field_alias("x_forwarded_for"));
  CHECK_FALSE(is_owned_field_alias("x-forwarded-for"));  // the dash spelling is apply_forwarding's
  CHECK_FALSE(is_owned_field_alias("x_custom_thing"));
}

TEST_CASE("http1 session: an upstream failure before any response byte went out is a 502") {
  Harness h;
  Exchange* got = nullptr;
  h.owner.router = [&](Exchange& ex) { got = &ex; };
  REQUIRE(h.session->feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  REQUIRE(got != nullptr);
  got->response().status = 200;
  got->response_head_ready();  // the head is known, not yet written to the client
  got->fail(502, Reason::upstream_protocol_error);
  const std::string out = pull_all(*h.session);
  CHECK(starts_with(out, "HTTP/1.1 502 Bad Gateway\r\n"));
  CHECK(out.find("upstream protocol error") != std::string::npos);
  CHECK(h.owner.done_statuses == std::vector<int>{502});
}

namespace {

struct ClientHarness {
  ClientHarness() : client(make_http1_client(owner)), ex(std::make_unique<Exchange>(sink)) {
    ex->request() = RequestHead{"GET", "https", "up", "/", {}, std::nullopt, false};
    ex->request_body().set_eof();
    client->attach(*ex);
    pull_all(*client);
  }
  FakeClientOwner owner;
  Sink sink;
  std::unique_ptr<ClientSession> client;
  std::unique_ptr<Exchange> ex;
};

}  // namespace

TEST_CASE("http1 client: malformed responses are upstream protocol errors") {
  const std::string bad[] = {
      "HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\rContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;\rx\r\nab\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
  };
  for (const std::string& resp : bad) {
    INFO(resp);
    ClientHarness c;
    CHECK_FALSE(c.client->feed(resp));
    CHECK(c.ex->info().reason == Reason::upstream_protocol_error);
    CHECK_FALSE(c.client->reusable());
    for (const Header& f : c.ex->response().headers) {
      CHECK(f.name.find(' ') == std::string::npos);
    }
  }
}

TEST_CASE("http1 client: request trailers go out in the chunked trailer section") {
  FakeClientOwner owner;
  Sink sink;
  auto client = make_http1_client(owner);
  Exchange ex(sink);
  ex.request() = RequestHead{"POST", "https", "up", "/p", {}, std::nullopt, true};
  client->attach(ex);
  ex.request_body().append("abc");
  ex.request().trailers = {{"x-sum", "1"}};
  ex.request_body().set_eof();
  ex.request_body_added();
  const std::string out = pull_all(*client);
  CHECK(out.find("transfer-encoding: chunked\r\n") != std::string::npos);
  const std::string tail = "3\r\nabc\r\n0\r\nx-sum: 1\r\n\r\n";
  REQUIRE(out.size() >= tail.size());
  CHECK(out.substr(out.size() - tail.size()) == tail);
}
