// The admin endpoint on a real loop: a response bigger than the kernel's socket buffers (as
// /metrics is with many tenants: 143 bytes a tenant) reaches a client that reads it slowly,
// whole. The connection's linger (2 s for the client's FIN) starts after the last byte, not
// after the response was queued: a scraper reading for longer than that got a cut body.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <uv.h>

#include "gateway/admin/admin_server.h"

namespace admin = portcullis::gateway::admin;
using namespace std::chrono_literals;

namespace {

class BigMetrics final : public admin::AdminViews {
 public:
  explicit BigMetrics(std::size_t bytes) : text_(bytes, 'm') {}
  bool ready() const noexcept override { return true; }
  std::string metrics_text() const override { return text_; }
  std::string config_json() const override { return "{}"; }

 private:
  std::string text_;
};

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// GET /metrics with a small receive buffer; waits `pause` before reading; returns all it read.
std::string slow_get(int port, std::chrono::milliseconds pause) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string got;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)::write(fd, req.data(), req.size());
    std::this_thread::sleep_for(pause);
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return got;
}

}  // namespace

TEST_CASE("a big response reaches a slow reader whole", "[admin]") {
  constexpr std::size_t kBody = 16 * 1024 * 1024;  // past any loopback socket buffer (4 MiB max)
  BigMetrics views(kBody);
  uv_loop_t loop{};
  uv_loop_init(&loop);
  admin::AdminServer server(views, &loop);
  const int port = free_port();
  REQUIRE(server.start("127.0.0.1:" + std::to_string(port)));

  std::atomic<bool> done{false};
  std::string got;
  std::thread client([&] {
    got = slow_get(port, 3500ms);  // longer than the 2 s linger
    done = true;
  });
  uv_timer_t poll{};
  uv_timer_init(&loop, &poll);
  poll.data = &done;
  uv_timer_start(
      &poll,
      [](uv_timer_t* t) {
        if (static_cast<std::atomic<bool>*>(t->data)->load()) {
          uv_stop(t->loop);
        }
      },
      50, 50);
  uv_run(&loop, UV_RUN_DEFAULT);
  client.join();
  uv_timer_stop(&poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll), nullptr);
  server.close();
  uv_run(&loop, UV_RUN_DEFAULT);  // the closes, and the connection's
  uv_loop_close(&loop);

  const auto head_end = got.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  CHECK(got.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(got.find("Content-Length: " + std::to_string(kBody)) != std::string::npos);
  CHECK(got.size() - (head_end + 4) == kBody);
}
