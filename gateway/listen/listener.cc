#include "gateway/listen/listener.h"

#include <cerrno>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/io/uv.h"
#include "gateway/listen/downstream_connection.h"
#include "gateway/observe/reason.h"
#include "gateway/events/events.h"
#include "gateway/upstream/worker_context.h"

namespace portcullis::gateway::listen {

int bind_listen_socket(const sockaddr* addr) noexcept {
  const int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -errno;
  }
  const int one = 1;
  // No SO_REUSEPORT: an address another process listens on is EADDRINUSE, never a silent
  // split of the traffic. The workers share this one socket (runtime/listen_sockets.h).
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (addr->sa_family == AF_INET6) {
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  const socklen_t len = addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::bind(fd, addr, len) != 0 || ::listen(fd, 1024) != 0) {
    const int e = errno;
    ::close(fd);
    return -e;
  }
  return fd;
}

namespace {
// Accepts per readable event before yielding to the loop, so one busy listener cannot starve the
// connections the worker already has.
constexpr int kAcceptBatch = 64;
}  // namespace

std::uint64_t Listener::backoff_ms(unsigned failures) noexcept {
  // 10, 20, 40 ... 640 ms: quick to resume when a descriptor frees, cheap while none does.
  const unsigned shift = failures == 0 ? 0 : (failures - 1 < 6 ? failures - 1 : 6);
  return std::uint64_t{10} << shift;
}

Listener::Listener(upstream::WorkerContext& worker, std::string name, int fd)
    : worker_(worker), name_(std::move(name)), fd_(fd) {
  uv_poll_init(worker_.loop(), &poll_, fd_);
  poll_.data = this;
  uv_timer_init(worker_.loop(), &backoff_);
  backoff_.data = this;
}

Listener::~Listener() {
  // Normally close() already did; a loop torn down by walking its handles leaves the fd to us.
  if (fd_ >= 0 && !closed_) {
    ::close(fd_);
  }
}

int Listener::start() noexcept {
  return uv_poll_start(&poll_, UV_READABLE, &Listener::on_readable);
}

void Listener::close() noexcept {
  if (closing_) {
    return;
  }
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), &Listener::on_handle_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&backoff_), &Listener::on_handle_closed);
}

void Listener::on_handle_closed(uv_handle_t* h) noexcept {
  auto& self = io::owner_of<Listener>(h);
  if (--self.open_handles_ == 0) {
    ::close(self.fd_);  // the poll no longer watches it
    self.fd_ = -1;
    self.closed_ = true;
  }
}

void Listener::on_readable(uv_poll_t* poll, int status, int /*events*/) noexcept {
  auto& self = io::owner_of<Listener>(poll);
  if (self.closing_) {
    return;
  }
  if (status < 0) {
    self.pause_for_descriptors();  // a poll error: back off rather than spin on it
    return;
  }
  self.accept_batch();
}

void Listener::accept_batch() noexcept {
  for (int i = 0; i < kAcceptBatch && !closing_; ++i) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        return;
      }
      if (e == EINTR || e == ECONNABORTED || e == EPROTO) {
        continue;  // that connection is gone; the next may be fine
      }
      if (e == EMFILE || e == ENFILE) {
        worker_.events().connection_refused(Reason::fd_exhausted);
      }
      // EMFILE, ENFILE, ENOBUFS, ENOMEM: the queue stays in the kernel; try again later.
      pause_for_descriptors();
      return;
    }
    fd_failures_ = 0;
    const runtime::SnapshotPtr& snap = worker_.snapshot();
    const runtime::ListenerRuntime* lr = snap->listener(name_);
    auto* conn = new DownstreamConnection(worker_, snap, *lr);
    if (uv_tcp_open(conn->socket().tcp(), fd) != 0) {
      ::close(fd);
      conn->socket().close();  // deletes itself in on_closed
      continue;
    }
    conn->start();
  }
}

void Listener::pause_for_descriptors() noexcept {
  uv_poll_stop(&poll_);
  ++fd_failures_;
  uv_timer_start(&backoff_, &Listener::on_backoff, backoff_ms(fd_failures_), 0);
}

void Listener::on_backoff(uv_timer_t* timer) noexcept {
  auto& self = io::owner_of<Listener>(timer);
  if (!self.closing_) {
    self.start();
  }
}

}  // namespace portcullis::gateway::listen
