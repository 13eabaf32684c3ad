// Listening-socket hand-off between two gateway processes, as HAProxy (-x) and Envoy (hot
// restart) do: the running process serves a UNIX socket, <state_dir>/handoff.sock; a new
// process started with `portcullis run --takeover` asks it for its listening sockets
// (SCM_RIGHTS), listens on the same ones (no connection is refused: the sockets never close),
// becomes ready, and then tells the old process to drain.
//
// Protocol (SOCK_SEQPACKET, one message each way per step):
//   new -> old  "listeners"         old -> new  "name address\n"... + one fd per line
//   new -> old  "drain"             old -> new  "ok"  (the old process then drains)
//
// Thread: HandoffServer on the main loop; take_over()/Takeover are blocking and run on the main
// thread before its loop starts (bounded by kHandoffTimeoutMs).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/socket.h>
#include <uv.h>

namespace portcullis::gateway::runtime {

constexpr int kHandoffTimeoutMs = 5000;

// An owned file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  ~UniqueFd() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() noexcept;
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// One message with `fds` attached (SCM_RIGHTS). 0 or -errno.
int send_with_fds(int sock, std::string_view text, const std::vector<int>& fds) noexcept;
// One message; descriptors that came with it are appended to `fds` (owned). Returns the
// message length or -errno (-EMSGSIZE when text or descriptors were truncated).
int recv_with_fds(int sock, std::string& text, std::vector<UniqueFd>& fds) noexcept;

// A listening socket as passed: the listener's name, its configured address, the socket.
struct PassedSocket {
  std::string name;
  std::string address;
  UniqueFd fd;
};

// The new process's side.
class Takeover {
 public:
  // Connects to <state_dir>/handoff.sock and receives the running process's listening sockets.
  // nullopt with `err` set when nothing answers or the exchange fails.
  static std::optional<Takeover> request(const std::string& socket_path, std::string& err);
  std::vector<PassedSocket>& sockets() noexcept { return sockets_; }
  // Tells the old process to drain and waits for its acknowledgement.
  bool finish(std::string& err);

 private:
  UniqueFd conn_;
  std::vector<PassedSocket> sockets_;
};

// The running process's side: answers on the main loop.
class HandoffServer {
 public:
  struct Callbacks {
    // The sockets to pass, in listener order (not owned: they are duplicated by the kernel).
    std::function<std::vector<std::pair<std::string, int>>()> sockets;  // "name address", fd
    std::function<void()> handed_off;  // a successor holds the sockets (e.g. free the admin port)
    std::function<void()> drain;       // the successor is ready
    // Before the drain is acknowledged, with the successor's pid (SO_PEERCRED; 0 if unknown):
    // a SIGUSR2 upgrade hands systemd the new MAINPID here, before the successor's READY=1.
    std::function<void(int pid)> successor_ready;
  };
  HandoffServer(uv_loop_t* loop, Callbacks cb);
  ~HandoffServer();
  HandoffServer(const HandoffServer&) = delete;
  HandoffServer& operator=(const HandoffServer&) = delete;

  // Binds `socket_path` (replacing a stale file). False with `err` when it cannot.
  bool start(const std::string& socket_path, std::string& err);
  // Stops answering; unlinks the path unless a successor has bound it since.
  void close() noexcept;

 private:
  struct Peer;
  static void on_accept(uv_poll_t* h, int status, int events) noexcept;
  void on_message(Peer& p) noexcept;
  void drop(Peer* p) noexcept;

  uv_loop_t* loop_;
  Callbacks cb_;
  std::string path_;
  std::uint64_t path_ino_ = 0;
  UniqueFd fd_;
  uv_poll_t* poll_ = nullptr;  // freed in its close callback
  std::vector<Peer*> peers_;
};

// <state_dir>/handoff.sock, or "" with `err` when the path does not fit a sockaddr_un.
std::string handoff_socket_path(const std::string& state_dir, std::string& err);

}  // namespace portcullis::gateway::runtime
