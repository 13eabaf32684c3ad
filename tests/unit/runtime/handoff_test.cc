// Listening-socket hand-off: descriptors through SCM_RIGHTS on a socketpair, and the whole
// exchange (HandoffServer on a real loop, Takeover from a second thread) on a real path.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "gateway/runtime/handoff.h"
#include "gateway/runtime/listen_sockets.h"

namespace rt = portcullis::gateway::runtime;

namespace {

// A listening loopback socket on a kernel-chosen port; returns the fd and fills `addr`.
int listening_socket(sockaddr_storage& addr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto& a = reinterpret_cast<sockaddr_in&>(addr);
  a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 16) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return fd;
}

std::string temp_dir() {
  char tmpl[] = "/tmp/handoff-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

}  // namespace

TEST_CASE("descriptors pass over a socketpair and stay the same socket", "[handoff]") {
  int sp[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0);
  rt::UniqueFd a(sp[0]), b(sp[1]);
  sockaddr_storage addr1{}, addr2{};
  rt::UniqueFd l1(listening_socket(addr1)), l2(listening_socket(addr2));

  REQUIRE(rt::send_with_fds(a.get(), "public 127.0.0.1:1\negress 127.0.0.1:2\n",
                            {l1.get(), l2.get()}) == 0);
  std::string text;
  std::vector<rt::UniqueFd> got;
  REQUIRE(rt::recv_with_fds(b.get(), text, got) > 0);
  CHECK(text == "public 127.0.0.1:1\negress 127.0.0.1:2\n");
  REQUIRE(got.size() == 2);
  CHECK(got[0].get() != l1.get());
  // The received descriptors are the same listening sockets, in order.
  CHECK(rt::bound_to(got[0].get(), addr1));
  CHECK(rt::bound_to(got[1].get(), addr2));
  CHECK_FALSE(rt::bound_to(got[0].get(), addr2));

  // Closing the sender's copy leaves the socket listening: a client still connects.
  l1.reset();
  rt::UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  CHECK(::connect(c.get(), reinterpret_cast<sockaddr*>(&addr1), sizeof(sockaddr_in)) == 0);
  rt::UniqueFd accepted(::accept(got[0].get(), nullptr, nullptr));
  CHECK(accepted);
}

TEST_CASE("a message without descriptors, and end of stream", "[handoff]") {
  int sp[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0);
  rt::UniqueFd a(sp[0]), b(sp[1]);
  REQUIRE(rt::send_with_fds(a.get(), "drain", {}) == 0);
  std::string text;
  std::vector<rt::UniqueFd> got;
  CHECK(rt::recv_with_fds(b.get(), text, got) == 5);
  CHECK(text == "drain");
  CHECK(got.empty());
  a.reset();
  CHECK(rt::recv_with_fds(b.get(), text, got) == 0);
}

TEST_CASE("the whole exchange: sockets, then drain", "[handoff]") {
  const std::string dir = temp_dir();
  std::string err;
  const std::string path = rt::handoff_socket_path(dir, err);
  REQUIRE(path == dir + "/handoff.sock");
  sockaddr_storage addr{};
  rt::UniqueFd listener(listening_socket(addr));

  uv_loop_t loop;
  uv_loop_init(&loop);
  std::atomic<bool> handed{false}, drained{false};
  rt::HandoffServer::Callbacks cb;
  cb.sockets = [&] {
    return std::vector<std::pair<std::string, int>>{{"public 127.0.0.1:0", listener.get()}};
  };
  cb.handed_off = [&] { handed = true; };
  rt::HandoffServer* server_ptr = nullptr;
  // Bounds the loop should the successor fail before "drain".
  uv_timer_t guard;
  uv_timer_init(&loop, &guard);
  auto stop = [&] {
    server_ptr->close();  // as the Server does when it finishes
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&guard))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    }
  };
  guard.data = &stop;
  cb.drain = [&] {
    drained = true;
    stop();
  };
  rt::HandoffServer server(&loop, cb);
  server_ptr = &server;
  REQUIRE(server.start(path, err));
  uv_timer_start(&guard, [](uv_timer_t* t) { (*static_cast<decltype(stop)*>(t->data))(); },
                 15000, 0);

  std::string client_err;
  std::vector<rt::PassedSocket> sockets;
  bool finished = false;
  std::thread successor([&] {
    auto t = rt::Takeover::request(path, client_err);
    if (!t) {
      return;
    }
    sockets = std::move(t->sockets());
    finished = t->finish(client_err);
  });
  // The loop ends when the server closed (after "drain"); bounded by the client's time-outs.
  uv_run(&loop, UV_RUN_DEFAULT);
  successor.join();
  INFO(client_err);
  REQUIRE(finished);
  CHECK(handed);
  CHECK(drained);
  REQUIRE(sockets.size() == 1);
  CHECK(sockets[0].name == "public");
  CHECK(sockets[0].address == "127.0.0.1:0");
  CHECK(rt::bound_to(sockets[0].fd.get(), addr));
  // Closed by its owner, the path is gone: nobody else bound it.
  struct stat st{};
  CHECK(::stat(path.c_str(), &st) != 0);
  uv_loop_close(&loop);
  ::rmdir(dir.c_str());
}

TEST_CASE("no running process: the request fails, naming the path", "[handoff]") {
  const std::string dir = temp_dir();
  std::string err;
  const std::string path = rt::handoff_socket_path(dir, err);
  CHECK_FALSE(rt::Takeover::request(path, err));
  CHECK(err.find(path) != std::string::npos);
  ::rmdir(dir.c_str());
  CHECK(rt::handoff_socket_path(std::string(200, 'x'), err).empty());
}
