#include "gateway/runtime/handoff.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace portcullis::gateway::runtime {
namespace {

// More than any configuration has listeners; SCM_RIGHTS allows 253 per message.
constexpr std::size_t kMaxFds = 64;
constexpr std::size_t kMaxText = 16 * 1024;

bool make_addr(const std::string& path, sockaddr_un& a) noexcept {
  std::memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path) {
    return false;
  }
  std::memcpy(a.sun_path, path.data(), path.size());
  return true;
}

// Waits until `fd` is readable, at most kHandoffTimeoutMs.
bool wait_readable(int fd) noexcept {
  pollfd p{fd, POLLIN, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, kHandoffTimeoutMs);
  } while (rc < 0 && errno == EINTR);
  return rc > 0;
}

std::uint64_t inode_of(const std::string& path) noexcept {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = o.release();
  }
  return *this;
}

void UniqueFd::reset() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

int send_with_fds(int sock, std::string_view text, const std::vector<int>& fds) noexcept {
  if (fds.size() > kMaxFds) {
    return -EMSGSIZE;
  }
  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)]{};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do {
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : 0;
}

int recv_with_fds(int sock, std::string& text, std::vector<UniqueFd>& fds) noexcept {
  text.assign(kMaxText, '\0');
  iovec iov{text.data(), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)]{};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    text.clear();
    return -errno;
  }
  text.resize(static_cast<std::size_t>(n));
  // Take every descriptor that arrived, even from a truncated message, so none leaks.
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds.emplace_back(fd);
      }
    }
  }
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    return -EMSGSIZE;
  }
  return static_cast<int>(n);
}

std::string handoff_socket_path(const std::string& state_dir, std::string& err) {
  std::string path = state_dir;
  if (!path.empty() && path.back() != '/') {
    path += '/';
  }
  path += "handoff.sock";
  sockaddr_un a{};
  if (!make_addr(path, a)) {
    err = path + ": longer than a UNIX socket path may be (" +
          std::to_string(sizeof a.sun_path - 1) + " bytes)";
    return {};
  }
  return path;
}

// --- the new process ---

std::optional<Takeover> Takeover::request(const std::string& socket_path, std::string& err) {
  sockaddr_un a{};
  if (!make_addr(socket_path, a)) {
    err = socket_path + ": not a usable UNIX socket path";
    return std::nullopt;
  }
  Takeover t;
  t.conn_ = UniqueFd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!t.conn_ || ::connect(t.conn_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    err = socket_path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  if (const int rc = send_with_fds(t.conn_.get(), "listeners", {}); rc < 0) {
    err = std::string("asking for the listening sockets: ") + std::strerror(-rc);
    return std::nullopt;
  }
  if (!wait_readable(t.conn_.get())) {
    err = "the running process did not answer within " + std::to_string(kHandoffTimeoutMs) +
          " ms";
    return std::nullopt;
  }
  std::string text;
  std::vector<UniqueFd> fds;
  if (const int rc = recv_with_fds(t.conn_.get(), text, fds); rc <= 0) {
    err = rc == 0 ? "the running process closed the hand-off"
                  : std::string("receiving the listening sockets: ") + std::strerror(-rc);
    return std::nullopt;
  }
  std::size_t at = 0;
  for (auto& fd : fds) {
    const std::size_t end = text.find('\n', at);
    if (end == std::string::npos) {
      err = "the hand-off message names fewer sockets than it carries";
      return std::nullopt;
    }
    const std::string line = text.substr(at, end - at);
    at = end + 1;
    const std::size_t sp = line.find(' ');
    t.sockets_.push_back(
        PassedSocket{line.substr(0, sp), sp == std::string::npos ? "" : line.substr(sp + 1),
                     std::move(fd)});
  }
  return t;
}

bool Takeover::finish(std::string& err) {
  if (const int rc = send_with_fds(conn_.get(), "drain", {}); rc < 0) {
    err = std::string("telling the old process to drain: ") + std::strerror(-rc);
    return false;
  }
  std::string text;
  std::vector<UniqueFd> fds;
  if (!wait_readable(conn_.get()) || recv_with_fds(conn_.get(), text, fds) <= 0 || text != "ok") {
    err = "the old process did not acknowledge the drain";
    return false;
  }
  conn_.reset();
  return true;
}

// --- the running process ---

struct HandoffServer::Peer {
  HandoffServer* server;
  UniqueFd fd;
  uv_poll_t* poll;
};

HandoffServer::HandoffServer(uv_loop_t* loop, Callbacks cb) : loop_(loop), cb_(std::move(cb)) {}

HandoffServer::~HandoffServer() { close(); }

bool HandoffServer::start(const std::string& socket_path, std::string& err) {
  sockaddr_un a{};
  if (!make_addr(socket_path, a)) {
    err = socket_path + ": not a usable UNIX socket path";
    return false;
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    err = std::strerror(errno);
    return false;
  }
  // A file left by a process that is gone, or by the one this process took over from (which
  // no longer needs it): the path is this process's from now on.
  ::unlink(socket_path.c_str());
  const mode_t old_mask = ::umask(0077);  // only this user may take the sockets
  const int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::umask(old_mask);
  if (rc != 0 || ::listen(fd.get(), 4) != 0) {
    err = socket_path + ": " + std::strerror(errno);
    return false;
  }
  path_ = socket_path;
  path_ino_ = inode_of(path_);
  fd_ = std::move(fd);
  poll_ = new uv_poll_t{};
  uv_poll_init(loop_, poll_, fd_.get());
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, &HandoffServer::on_accept);
  return true;
}

void HandoffServer::close() noexcept {
  for (Peer* p : std::vector<Peer*>(peers_)) {
    drop(p);
  }
  if (poll_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (fd_) {
    fd_.reset();
    if (path_ino_ != 0 && inode_of(path_) == path_ino_) {
      ::unlink(path_.c_str());  // still ours: no successor has bound it
    }
  }
}

void HandoffServer::on_accept(uv_poll_t* h, int status, int /*events*/) noexcept {
  auto& self = *static_cast<HandoffServer*>(h->data);
  if (status < 0) {
    return;
  }
  UniqueFd c(::accept4(self.fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (!c) {
    return;
  }
  auto* p = new Peer{&self, std::move(c), new uv_poll_t{}};
  uv_poll_init(self.loop_, p->poll, p->fd.get());
  p->poll->data = p;
  uv_poll_start(p->poll, UV_READABLE, [](uv_poll_t* ph, int st, int /*ev*/) noexcept {
    auto* peer = static_cast<Peer*>(ph->data);
    if (st < 0) {
      peer->server->drop(peer);
      return;
    }
    peer->server->on_message(*peer);
  });
  self.peers_.push_back(p);
}

void HandoffServer::on_message(Peer& p) noexcept {
  std::string text;
  std::vector<UniqueFd> ignored;
  const int n = recv_with_fds(p.fd.get(), text, ignored);
  if (n == -EAGAIN) {
    return;
  }
  if (n <= 0) {
    drop(&p);
    return;
  }
  if (text == "listeners") {
    std::string names;
    std::vector<int> fds;
    for (const auto& [line, fd] : cb_.sockets()) {
      names += line + "\n";
      fds.push_back(fd);
    }
    if (send_with_fds(p.fd.get(), names, fds) == 0 && cb_.handed_off) {
      cb_.handed_off();
    }
    return;
  }
  if (text == "drain") {
    if (cb_.successor_ready) {
      ucred cred{};
      socklen_t len = sizeof cred;
      const bool known =
          ::getsockopt(p.fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
      cb_.successor_ready(known ? static_cast<int>(cred.pid) : 0);
    }
    send_with_fds(p.fd.get(), "ok", {});
    drop(&p);
    cb_.drain();  // last: it may close this server
    return;
  }
  drop(&p);  // not the protocol
}

void HandoffServer::drop(Peer* p) noexcept {
  peers_.erase(std::remove(peers_.begin(), peers_.end(), p), peers_.end());
  uv_close(reinterpret_cast<uv_handle_t*>(p->poll),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  delete p;  // closes the descriptor; the poll no longer watches it once closing
}

}  // namespace portcullis::gateway::runtime
