#include "gateway/listen/listener.h"

#include <cerrno>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/io/uv.h"
#include "gateway/listen/downstream_connection.h"
#include "gateway/upstream/worker_context.h"

namespace portcullis::gateway::listen {

int bind_listen_socket(const sockaddr* addr) noexcept {
  const int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -errno;
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // One socket per worker; the kernel spreads connections between them.
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
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

Listener::Listener(upstream::WorkerContext& worker, std::string name, int fd)
    : worker_(worker), name_(std::move(name)) {
  uv_tcp_init(worker_.loop(), &tcp_);
  tcp_.data = this;
  uv_tcp_open(&tcp_, fd);
}

Listener::~Listener() = default;

int Listener::start() noexcept {
  return uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), 1024, &Listener::on_connection);
}

void Listener::close() noexcept {
  if (closing_) {
    return;
  }
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) {
    io::owner_of<Listener>(h).closed_ = true;
  });
}

void Listener::on_connection(uv_stream_t* server, int status) noexcept {
  auto& self = io::owner_of<Listener>(server);
  if (status < 0 || self.closing_) {
    return;
  }
  const runtime::SnapshotPtr& snap = self.worker_.snapshot();
  const runtime::ListenerRuntime* lr = snap->listener(self.name_);
  auto* conn = new DownstreamConnection(self.worker_, snap, *lr);
  if (uv_accept(server, conn->socket().stream()) != 0) {
    conn->socket().close();  // deletes itself in on_closed
    return;
  }
  conn->start();
}

}  // namespace portcullis::gateway::listen
