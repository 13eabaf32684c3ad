// Http1Client with scripted upstream bytes, and back to back with an Http1Session.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>

#include "gateway/http/message.h"
#include "gateway/http/session.h"
#include "gateway/http/client.h"
#include "tests/unit/http1/fakes.h"

using namespace portcullis::gateway;
using namespace portcullis::gateway::http;
using namespace portcullis::gateway::http::testing;
using portcullis::gateway::http::make_http1_client;

namespace {

struct ClientHarness {
  ClientHarness() : client(make_http1_client(owner)), ex(std::make_unique<Exchange>(sink)) {}
  void get(std::string path = "/x", std::string method = "GET") {
    ex->request().method = std::move(method);
    ex->request().scheme = "https";
    ex->request().authority = "up.example";
    ex->request().path = std::move(path);
    ex->request().headers = {{"x-y", "z"}};
    ex->request_body().set_eof();
    client->attach(*ex);
  }
  std::string drain_body() {
    std::string b(ex->response_body().peek());
    ex->response_body().consume(b.size());
    ex->response_body_consumed(b.size());
    return b;
  }
  FakeClientOwner owner;
  Sink sink;
  std::unique_ptr<http::ClientSession> client;
  std::unique_ptr<Exchange> ex;
};

}  // namespace

TEST_CASE("http1 client: serializes the request head") {
  ClientHarness c;
  CHECK(c.client->can_take());
  c.get();
  CHECK(c.ex->has_upstream());
  CHECK_FALSE(c.client->can_take());
  CHECK(c.client->active() == 1);
  CHECK(pull_all(*c.client) == "GET /x HTTP/1.1\r\nhost: up.example\r\nx-y: z\r\n\r\n");
}

TEST_CASE("http1 client: chunked request body when the length is unknown") {
  ClientHarness c;
  c.ex->request() = RequestHead{"POST", "https", "a", "/p", {}, std::nullopt, true};
  c.client->attach(*c.ex);
  c.ex->request_body().append("hello");
  c.ex->request_body_added();
  CHECK(pull_all(*c.client) ==
        "POST /p HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n");
  CHECK(c.sink.consumed == 5);
  c.ex->request_body().set_eof();
  c.ex->request_body_added();
  CHECK(pull_all(*c.client) == "0\r\n\r\n");
}

TEST_CASE("http1 client: content-length request body and bodyless POST") {
  ClientHarness c;
  c.ex->request() = RequestHead{"PUT", "https", "a", "/p", {}, 3, true};
  c.client->attach(*c.ex);
  c.ex->request_body().append("abc");
  c.ex->request_body().set_eof();
  CHECK(pull_all(*c.client) == "PUT /p HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\nabc");
  ClientHarness d;
  d.ex->request() = RequestHead{"POST", "https", "a", "/p", {}, std::nullopt, false};
  d.ex->request_body().set_eof();
  d.client->attach(*d.ex);
  CHECK(pull_all(*d.client) == "POST /p HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\n\r\n");
}

TEST_CASE("http1 client: parses a response split at every offset, skipping 100") {
  const std::string resp =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Hop\r\n"
      "X-Hop: 1\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n";
  for (std::size_t i = 0; i <= resp.size(); ++i) {
    INFO("split at " << i);
    ClientHarness c;
    c.get();
    pull_all(*c.client);
    REQUIRE(c.client->feed(resp.substr(0, i)));
    REQUIRE(c.client->feed(resp.substr(i)));
    CHECK(c.sink.heads == 1);
    CHECK(c.ex->response().status == 200);
    REQUIRE(c.ex->response().headers.size() == 1);
    CHECK(c.ex->response().headers[0].name == "content-type");
    CHECK(c.ex->response().headers[0].value == "text/plain");
    CHECK_FALSE(c.ex->response().content_length.has_value());
    CHECK(c.ex->response_body().peek() == "abcde");
    CHECK(c.ex->response_body().eof());
    CHECK_FALSE(c.ex->has_upstream());
    CHECK(c.client->reusable());
    CHECK(c.client->can_take());
    CHECK(c.owner.capacity_calls == 1);
  }
}

TEST_CASE("http1 client: keep-alive reuse for a second request") {
  ClientHarness c;
  c.get();
  pull_all(*c.client);
  REQUIRE(c.client->feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  CHECK(c.ex->response().content_length == std::optional<std::uint64_t>(2));
  REQUIRE(c.client->can_take());
  auto ex2 = std::make_unique<Exchange>(c.sink);
  ex2->request() = RequestHead{"GET", "https", "a", "/2", {}, std::nullopt, false};
  ex2->request_body().set_eof();
  c.client->attach(*ex2);
  CHECK(pull_all(*c.client) == "GET /2 HTTP/1.1\r\nhost: a\r\n\r\n");
  REQUIRE(c.client->feed("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
  CHECK(ex2->response().status == 404);
  CHECK(ex2->response_body().finished());
}

TEST_CASE("http1 client: HEAD response has no body") {
  ClientHarness c;
  c.get("/h", "HEAD");
  pull_all(*c.client);
  REQUIRE(c.client->feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"));
  CHECK(c.ex->response().content_length == std::optional<std::uint64_t>(10));
  CHECK_FALSE(c.ex->response().has_body);
  CHECK(c.ex->response_body().finished());
  CHECK(c.client->can_take());
}

TEST_CASE("http1 client: Connection close is not reusable") {
  ClientHarness c;
  c.get();
  pull_all(*c.client);
  REQUIRE(c.client->feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
  CHECK(c.ex->response_body().finished());
  CHECK_FALSE(c.client->reusable());
  CHECK_FALSE(c.client->can_take());
  CHECK(c.owner.capacity_calls == 0);
}

TEST_CASE("http1 client: early response before the body was sent") {
  ClientHarness c;
  c.ex->request() = RequestHead{"POST", "https", "a", "/p", {}, 100, true};
  c.client->attach(*c.ex);
  c.ex->request_body().append("abc");
  pull_all(*c.client);
  REQUIRE(c.client->feed("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n"));
  CHECK(c.ex->response().status == 413);
  CHECK(c.ex->response_body().finished());
  CHECK_FALSE(c.ex->has_upstream());
  CHECK_FALSE(c.client->reusable());
}

TEST_CASE("http1 client: parse error is a 502 local reply") {
  ClientHarness c;
  c.get();
  pull_all(*c.client);
  CHECK_FALSE(c.client->feed("HTTP/1.1 2x0 OK\r\n\r\n"));
  CHECK(c.ex->response().status == 502);
  CHECK(c.ex->info().reason == Reason::upstream_protocol_error);
  CHECK(c.ex->info().local);
  CHECK_FALSE(c.client->reusable());
  CHECK(c.client->active() == 0);
}

TEST_CASE("http1 client: 101 is a protocol error") {
  ClientHarness c;
  c.get();
  pull_all(*c.client);
  CHECK_FALSE(c.client->feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n"
                             "Connection: upgrade\r\n\r\n"));
  CHECK(c.ex->response().status == 502);
}

TEST_CASE("http1 client: a WebSocket handshake, then bytes relayed both ways") {
  ClientHarness c;
  c.ex->request() = RequestHead{"GET", "https", "up.example", "/ws", {{"sec-websocket-key", "k"}},
                                std::nullopt, true};
  c.ex->request().upgrade = "websocket";
  c.client->attach(*c.ex);
  CHECK_FALSE(c.client->reusable());  // the connection becomes the stream
  CHECK(pull_all(*c.client) ==
        "GET /ws HTTP/1.1\r\nhost: up.example\r\nsec-websocket-key: k\r\n"
        "connection: upgrade\r\nupgrade: websocket\r\n\r\n");
  REQUIRE(c.client->feed("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Accept: a\r\n\r\n\x81\x02hi"));
  CHECK(c.ex->response().status == 101);
  CHECK(find_header(c.ex->response().headers, "sec-websocket-accept") != nullptr);
  CHECK(find_header(c.ex->response().headers, "upgrade") == nullptr);
  REQUIRE(c.client->feed("\r\n\r\nmore"));  // raw bytes, not HTTP
  CHECK(c.drain_body() == "\x81\x02hi\r\n\r\nmore");
  c.ex->request_body().append("\x82\x00");  // unframed: no chunk line
  c.ex->request_body_added();
  CHECK(pull_all(*c.client) == "\x82\x00");
  c.client->peer_closed();
  CHECK(c.ex->response_body().finished());
}

TEST_CASE("http1 client: peer_closed") {
  SECTION("completes a close-delimited body") {
    ClientHarness c;
    c.get();
    pull_all(*c.client);
    REQUIRE(c.client->feed("HTTP/1.1 200 OK\r\n\r\nsome"));
    REQUIRE(c.client->feed("thing"));
    c.client->peer_closed();
    CHECK(c.ex->response_body().peek() == "something");
    CHECK(c.ex->response_body().eof());
    CHECK(c.sink.aborts == 0);
    CHECK_FALSE(c.client->reusable());
  }
  SECTION("before the head: 502 upstream_reset") {
    ClientHarness c;
    c.get();
    pull_all(*c.client);
    REQUIRE(c.client->feed("HTTP/1.1 200 OK\r\nContent-"));
    c.client->peer_closed();
    CHECK(c.ex->response().status == 502);
    CHECK(c.ex->info().reason == Reason::upstream_reset);
  }
  SECTION("after the head, short body: abort") {
    ClientHarness c;
    c.get();
    pull_all(*c.client);
    REQUIRE(c.client->feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"));
    c.client->peer_closed();
    CHECK(c.sink.aborts == 1);
    CHECK(c.ex->response().status == 200);
    CHECK_FALSE(c.ex->has_upstream());
  }
}

TEST_CASE("http1 client: unsolicited bytes and downstream abort") {
  ClientHarness c;
  CHECK_FALSE(c.client->feed("HTTP/1.1 200 OK\r\n\r\n"));
  CHECK_FALSE(c.client->reusable());
  ClientHarness d;
  d.get();
  d.ex.reset();  // the client went away mid-request
  CHECK(d.client->active() == 0);
  CHECK_FALSE(d.client->reusable());
}

TEST_CASE("http1 client: response backpressure") {
  ClientHarness c;
  c.get();
  pull_all(*c.client);
  REQUIRE(c.client->feed("HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n"));
  CHECK(c.client->want_read());
  REQUIRE(c.client->feed(std::string(kBodyHighWatermark, 'x')));
  CHECK_FALSE(c.client->want_read());
  int before = c.owner.output_ready_calls;
  c.drain_body();
  CHECK(c.owner.output_ready_calls > before);
  CHECK(c.client->want_read());
}

// ---- back to back: Http1Client -> bytes -> Http1Session (echo router) -> bytes -> client ----

namespace {

struct BackToBack {
  explicit BackToBack(SessionLimits lim = {}) {
    facts.client_ip = "10.0.0.1";
    session = make_http1_session(owner, facts, lim);
    client = make_http1_client(client_owner);
    owner.router = [this](Exchange& ex) {
      if (ex.request().path == "/missing") {
        ex.local_reply(404, Reason::no_route, "no route");
        return;
      }
      echo.start(ex);
    };
  }

  // One round of moving bytes both ways; returns true if anything moved.
  bool step(std::size_t chunk) {
    bool moved = false;
    if (c2s.size() < chunk) {
      std::size_t before = c2s.size();
      client->pull_output(c2s, chunk);
      moved |= c2s.size() != before;
    }
    if (!c2s.empty() && session->want_read()) {
      std::size_t n = std::min(chunk, c2s.size());
      session->feed(std::string_view(c2s).substr(0, n));
      c2s.erase(0, n);
      moved = true;
    }
    if (s2c.size() < chunk) {
      std::size_t before = s2c.size();
      session->pull_output(s2c, chunk);
      moved |= s2c.size() != before;
    }
    if (!s2c.empty() && client->want_read()) {
      std::size_t n = std::min(chunk, s2c.size());
      client->feed(std::string_view(s2c).substr(0, n));
      s2c.erase(0, n);
      moved = true;
    }
    for (Exchange* e : owner.started) {
      max_buffered = std::max({max_buffered, e->request_body().size(), e->response_body().size()});
    }
    return moved;
  }

  FakeOwner owner;
  ConnFacts facts;
  Echo echo;
  FakeClientOwner client_owner;
  std::unique_ptr<Session> session;
  std::unique_ptr<http::ClientSession> client;
  std::string c2s;
  std::string s2c;
  std::size_t max_buffered = 0;
};

}  // namespace

TEST_CASE("http1 back to back: GET, POST with chunked body, local 404, all on one connection") {
  BackToBack b;
  Sink sink;
  struct Case {
    RequestHead head;
    std::string body;
    int status;
    std::string expect;
  };
  std::vector<Case> cases = {
      {{"GET", "https", "a.example", "/g", {{"x-q", "1"}}, std::nullopt, false}, "", 200, ""},
      {{"POST", "https", "a.example", "/p", {}, std::nullopt, true}, "payload", 200, "payload"},
      {{"PUT", "https", "a.example", "/p", {}, 3, true}, "xyz", 200, "xyz"},
      {{"GET", "https", "a.example", "/missing", {}, std::nullopt, false}, "", 404, "no route\n"},
  };
  for (Case& k : cases) {
    INFO(k.head.method << " " << k.head.path);
    REQUIRE(b.client->can_take());
    Exchange ex(sink);
    ex.request() = k.head;
    ex.request_body().append(k.body);
    ex.request_body().set_eof();
    b.client->attach(ex);
    std::string got;
    for (int i = 0; i < 100 && !ex.response_body().finished(); ++i) {
      b.step(4096);
      got += ex.response_body().peek();
      std::size_t n = ex.response_body().size();
      ex.response_body().consume(n);
      if (n > 0) {
        ex.response_body_consumed(n);
      }
    }
    CHECK(ex.response().status == k.status);
    CHECK(got == k.expect);
    REQUIRE(ex.response_body().finished());
    CHECK_FALSE(ex.has_upstream());
    for (int i = 0; i < 10; ++i) {
      b.step(4096);
    }
  }
  CHECK(b.owner.heads.size() == 4);
  CHECK(b.owner.heads[0].authority == "a.example");
  CHECK(find_header(b.owner.heads[0].headers, "x-q") != nullptr);
  CHECK(b.client->reusable());
  CHECK_FALSE(b.session->should_close());
}

TEST_CASE("http1 back to back: 10 MiB body streams with bounded buffers") {
  BackToBack b;
  Sink sink;
  Exchange ex(sink);
  const std::size_t total = 10 * 1024 * 1024;
  ex.request() = RequestHead{"POST", "https", "a", "/big", {}, std::nullopt, true};
  b.client->attach(ex);
  std::size_t produced = 0;
  std::size_t received = 0;
  std::uint8_t expect_byte = 0;
  bool content_ok = true;
  std::size_t max_client_buffers = 0;
  for (int i = 0; i < 200000 && !ex.response_body().finished(); ++i) {
    // Produce like a downstream would: only below the watermark.
    if (produced < total && !ex.request_body().over_high()) {
      std::string chunk(std::min<std::size_t>(16384, total - produced), '\0');
      for (char& ch : chunk) {
        ch = static_cast<char>(static_cast<std::uint8_t>(produced++ % 251));
      }
      ex.request_body().append(chunk);
      if (produced == total) {
        ex.request_body().set_eof();
      }
      ex.request_body_added();
    }
    b.step(16384);
    max_client_buffers = std::max({max_client_buffers, ex.request_body().size(),
                                   ex.response_body().size()});
    // Consume slowly: at most 8 KiB per round, so backpressure builds up.
    std::string_view got = ex.response_body().peek().substr(0, 8192);
    for (char ch : got) {
      if (static_cast<std::uint8_t>(ch) != static_cast<std::uint8_t>(received++ % 251)) {
        content_ok = false;
      }
    }
    (void)expect_byte;
    std::size_t n = got.size();
    ex.response_body().consume(n);
    if (n > 0) {
      ex.response_body_consumed(n);
    }
  }
  CHECK(ex.response_body().finished());
  CHECK(received == total);
  CHECK(content_ok);
  CHECK(b.max_buffered <= 2 * kBodyHighWatermark);
  CHECK(b.echo.max_seen <= 2 * kBodyHighWatermark);
  CHECK(max_client_buffers <= 2 * kBodyHighWatermark);
  CHECK(b.client->reusable());
}
