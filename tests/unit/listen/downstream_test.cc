// DownstreamConnection and Listener driven through a FakeContext on a real loop, with real
// loopback TCP clients: no Worker, no Server. TLS is never reached here (each case ends before
// the handshake or never sends a byte), so nothing about TLS is faked either.
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include "fake_context.h"
#include "gateway/listen/downstream_connection.h"
#include "gateway/listen/listener.h"

namespace gw = portcullis::gateway;
using gw::testing::FakeContext;

namespace {

constexpr int kMaxTurns = 20000;  // loop turns allowed for a step; each turn is non-blocking

std::shared_ptr<gw::runtime::Snapshot> snapshot_with_listener(
    gw::config::ListenerConfig::ProxyProtocol proxy, std::vector<std::string> trusted) {
  auto snap = std::make_shared<gw::runtime::Snapshot>();
  gw::config::ListenerConfig lc;
  lc.name = "in";
  lc.address = "127.0.0.1:0";
  lc.proxy_protocol = proxy;
  lc.trusted_proxies = trusted;
  snap->config.listeners.push_back(lc);
  auto& lr = snap->listeners.emplace_back();
  lr.cfg = &snap->config.listeners.back();
  for (const auto& t : trusted) {
    lr.trusted_proxies.push_back(*gw::listen::Cidr::parse(t));
  }
  return snap;
}

// A listening socket on 127.0.0.1, any port; returns the fd and fills `port`.
int listen_loopback(std::uint16_t& port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int fd = gw::listen::bind_listen_socket(reinterpret_cast<sockaddr*>(&a));
  REQUIRE(fd >= 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

// A blocking connect (the kernel completes it from the listen backlog), then non-blocking.
int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Runs the loop until pred() or the turn budget is spent; returns pred().
template <class Pred>
bool run_until(FakeContext& ctx, Pred pred) {
  for (int i = 0; i < kMaxTurns && !pred(); ++i) {
    ctx.turn();
    if (i % 100 == 99) {
      usleep(1000);  // let the kernel move loopback bytes between busy turns
    }
  }
  return pred();
}

// recv() == 0: the gateway closed the connection.
bool peer_closed(int fd) {
  char buf[256];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

void close_listener(FakeContext& ctx, gw::listen::Listener& l) {
  l.close();
  REQUIRE(run_until(ctx, [&] { return l.closed(); }));
}

}  // namespace

TEST_CASE("a connection past the listener cap is refused, counted once, and leaves the worker") {
  auto snap = snapshot_with_listener(gw::config::ListenerConfig::ProxyProtocol::off, {});
  snap->config.limits.max_connections_per_listener = 1;
  FakeContext ctx(snap);
  REQUIRE(ctx.connection_limits().acquire("l:in", 1));  // the one slot is taken

  std::uint16_t port = 0;
  gw::listen::Listener listener(ctx, "in", listen_loopback(port));
  REQUIRE(listener.start() == 0);
  const int client = connect_loopback(port);

  REQUIRE(run_until(ctx, [&] { return ctx.added == 1 && ctx.removed == 1; }));
  CHECK(ctx.tracked.empty());
  REQUIRE(run_until(ctx, [&] { return peer_closed(client); }));
  const std::string m = ctx.events().render_metrics();
  CHECK(has_line(m, "portcullis_rejections_total{reason=\"listener_connection_limit\"} 1"));
  CHECK(has_line(m, "portcullis_downstream_connections{listener=\"in\"} 0"));

  ::close(client);
  close_listener(ctx, listener);
}

TEST_CASE("a PROXY header refused is a rejection, not a TLS handshake failure") {
  // proxy_protocol on, and 127.0.0.1 is not a trusted proxy.
  auto snap = snapshot_with_listener(gw::config::ListenerConfig::ProxyProtocol::v1,
                                     {"10.0.0.0/8"});
  FakeContext ctx(snap);
  std::uint16_t port = 0;
  gw::listen::Listener listener(ctx, "in", listen_loopback(port));
  REQUIRE(listener.start() == 0);
  const int client = connect_loopback(port);

  REQUIRE(run_until(ctx, [&] { return ctx.added == 1 && ctx.removed == 1; }));
  REQUIRE(run_until(ctx, [&] { return peer_closed(client); }));
  const std::string m = ctx.events().render_metrics();
  CHECK(has_line(m, "portcullis_rejections_total{reason=\"proxy_source_untrusted\"} 1"));
  CHECK(m.find("portcullis_tls_handshake_failures_total{") == std::string::npos);

  ::close(client);
  close_listener(ctx, listener);
}

TEST_CASE("[limits] buffer_per_direction is the connection's write backpressure point") {
  // A trusted PROXY source: the connection waits for the header and writes nothing itself.
  auto snap = snapshot_with_listener(gw::config::ListenerConfig::ProxyProtocol::v1,
                                     {"127.0.0.0/8"});
  snap->config.limits.buffer_per_direction = 4096;
  FakeContext ctx(snap);
  std::uint16_t port = 0;
  gw::listen::Listener listener(ctx, "in", listen_loopback(port));
  REQUIRE(listener.start() == 0);
  const int client = connect_loopback(port);  // never reads: the backlog stays queued

  REQUIRE(run_until(ctx, [&] { return ctx.tracked.size() == 1; }));
  auto* conn = dynamic_cast<gw::listen::DownstreamConnection*>(ctx.tracked.front());
  REQUIRE(conn != nullptr);
  CHECK(conn->socket().high_watermark() == 4096);
  CHECK(conn->socket().writable());
  // 6 KiB: under the 64 KiB default, over this connection's 4 KiB.
  REQUIRE(conn->socket().send(std::string(6 * 1024, 'x')));
  CHECK_FALSE(conn->socket().writable());

  conn->abort();
  REQUIRE(run_until(ctx, [&] { return ctx.removed == 1; }));
  ::close(client);
  close_listener(ctx, listener);
}
