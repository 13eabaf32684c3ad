// upstream::Pool through a FakeContext on a real loop: a plaintext upstream on loopback (a raw
// socket this test serves by hand). TLS is not involved: the target is an explicit plaintext
// cluster, the one case the pool connects without TLS.
#include <cerrno>
#include <memory>
#include <string>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "fake_context.h"
#include "gateway/http/exchange.h"
#include "gateway/http/session.h"
#include "gateway/upstream/pool.h"

namespace gw = portcullis::gateway;
using gw::testing::FakeContext;

namespace {

constexpr int kMaxTurns = 20000;

template <class Pred>
bool run_until(FakeContext& ctx, Pred pred) {
  for (int i = 0; i < kMaxTurns && !pred(); ++i) {
    ctx.turn();
    if (i % 100 == 99) {
      usleep(1000);
    }
  }
  return pred();
}

// The client side of one request: records the response and drains its body.
struct Client final : gw::http::DownstreamSide {
  gw::http::Exchange ex{*this};
  std::string body;
  bool done = false;
  bool aborted = false;

  explicit Client(const std::string& path) {
    auto& req = ex.request();
    req.method = "GET";
    req.scheme = "http";
    req.authority = "upstream.test";
    req.path = path;
    req.has_body = false;
    ex.request_body().set_eof();
  }
  void on_response_head(gw::http::Exchange& e) noexcept override { on_response_body(e); }
  void on_response_body(gw::http::Exchange& e) noexcept override {
    const std::size_t n = e.response_body().size();
    body.append(e.response_body().peek());
    e.response_body().consume(n);
    e.response_body_consumed(n);
    done = done || e.response_body().eof() || e.info().local;
  }
  void on_request_body_consumed(gw::http::Exchange&, std::size_t) noexcept override {}
  void on_upstream_abort(gw::http::Exchange&) noexcept override { aborted = true; }
};

// A listening loopback socket, non-blocking; the test accepts and answers by hand.
struct RawUpstream {
  int fd = -1;
  std::uint16_t port = 0;
  RawUpstream() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~RawUpstream() { ::close(fd); }
  int accept_one() { return ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK); }
};

// Reads until a complete request head arrived on `conn`; true when it did.
bool read_head(FakeContext& ctx, int conn, std::string& head) {
  return run_until(ctx, [&] {
    char buf[4096];
    const ssize_t n = ::recv(conn, buf, sizeof buf, 0);
    if (n > 0) {
      head.append(buf, static_cast<std::size_t>(n));
    }
    return head.find("\r\n\r\n") != std::string::npos;
  });
}

void answer(int conn, const std::string& body) {
  const std::string r = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\n\r\n" + body;
  REQUIRE(::send(conn, r.data(), r.size(), 0) == static_cast<ssize_t>(r.size()));
}

gw::upstream::Target plaintext_target() {
  gw::upstream::Target t;
  t.name = "backend";
  return t;  // ctx null: plaintext
}

gw::upstream::Endpoint endpoint_at(std::uint16_t port) {
  gw::upstream::Endpoint e;
  e.host_port = gw::io::HostPort{"127.0.0.1", port};
  return e;
}

}  // namespace

TEST_CASE("the pool reuses an idle upstream connection for the next exchange") {
  auto snap = std::make_shared<gw::runtime::Snapshot>();
  FakeContext ctx(snap);
  RawUpstream up;
  const auto target = plaintext_target();
  const auto endpoint = endpoint_at(up.port);
  const gw::upstream::PoolKey key{snap->generation, &target, "127.0.0.1:" + std::to_string(up.port)};

  Client first("/one");
  ctx.pool().acquire(snap, key, target, endpoint, first.ex);
  int conn = -1;
  REQUIRE(run_until(ctx, [&] { return conn >= 0 || (conn = up.accept_one()) >= 0; }));
  std::string head;
  REQUIRE(read_head(ctx, conn, head));
  CHECK(head.rfind("GET /one HTTP/1.1\r\n", 0) == 0);
  answer(conn, "first");
  REQUIRE(run_until(ctx, [&] { return first.done; }));
  CHECK(first.body == "first");
  CHECK(ctx.pool().size() == 1);

  Client second("/two");
  ctx.pool().acquire(snap, key, target, endpoint, second.ex);
  head.clear();
  REQUIRE(read_head(ctx, conn, head));  // on the same upstream connection
  CHECK(head.rfind("GET /two HTTP/1.1\r\n", 0) == 0);
  CHECK(up.accept_one() < 0);  // and no second one was opened
  answer(conn, "second");
  REQUIRE(run_until(ctx, [&] { return second.done; }));
  CHECK(second.body == "second");
  CHECK(ctx.pool().size() == 1);
  ::close(conn);
}

TEST_CASE("an upstream connect failure is one upstream failure, not also a rejection") {
  auto snap = std::make_shared<gw::runtime::Snapshot>();
  FakeContext ctx(snap);
  std::uint16_t closed_port = 0;
  {
    RawUpstream gone;  // bound, then closed: connecting to it is refused
    closed_port = gone.port;
  }
  const auto target = plaintext_target();
  const auto endpoint = endpoint_at(closed_port);
  const gw::upstream::PoolKey key{snap->generation, &target, "refused"};
  Client c("/");
  ctx.pool().acquire(snap, key, target, endpoint, c.ex);
  REQUIRE(run_until(ctx, [&] { return c.done; }));
  CHECK(c.ex.response().status == 502);
  CHECK(c.ex.info().reason == gw::Reason::upstream_connect_failed);

  gw::http::ConnFacts facts;
  facts.listener = "in";
  ctx.events().exchange_done(facts, c.ex);  // what the downstream connection does next
  const std::string m = ctx.events().render_metrics();
  CHECK(m.find("portcullis_upstream_failures_total{tenant=\"\",cluster=\"backend\",reason=\"upstream_connect_failed\"} 1\n") !=
        std::string::npos);
  CHECK(m.find("portcullis_rejections_total{") == std::string::npos);
}
