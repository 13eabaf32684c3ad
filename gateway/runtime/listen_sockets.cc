#include "gateway/runtime/listen_sockets.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "gateway/io/uv.h"
#include "gateway/listen/listener.h"

namespace portcullis::gateway::runtime {

bool bound_to(int fd, const sockaddr_storage& want) noexcept {
  int listening = 0;
  int type = 0;
  socklen_t olen = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) != 0 || listening == 0) {
    return false;
  }
  olen = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) != 0 || type != SOCK_STREAM) {
    return false;
  }
  sockaddr_storage got{};
  socklen_t len = sizeof got;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&got), &len) != 0 ||
      got.ss_family != want.ss_family) {
    return false;
  }
  if (want.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(got);
    const auto& b = reinterpret_cast<const sockaddr_in&>(want);
    return b.sin_port != 0 && a.sin_port == b.sin_port && a.sin_addr.s_addr == b.sin_addr.s_addr;
  }
  if (want.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(got);
    const auto& b = reinterpret_cast<const sockaddr_in6&>(want);
    return b.sin6_port != 0 && a.sin6_port == b.sin6_port &&
           std::memcmp(&a.sin6_addr, &b.sin6_addr, sizeof a.sin6_addr) == 0;
  }
  return false;
}

bool open_listen_sockets(const Snapshot& snap, std::vector<PassedSocket>& inherited,
                         std::vector<UniqueFd>& out) {
  out.clear();
  for (const auto& l : snap.listeners) {
    UniqueFd fd;
    const char* how = "bound";
    // A hand-off names its sockets; systemd's are matched by the address they are bound to.
    for (auto& p : inherited) {
      if (p.fd && !p.address.empty() && p.name == l.cfg->name && p.address == l.cfg->address) {
        fd = std::move(p.fd);
        how = "taken over";
        break;
      }
    }
    for (auto& p : inherited) {
      if (!fd && p.fd && bound_to(p.fd.get(), l.addr)) {
        fd = std::move(p.fd);
        how = p.address.empty() ? "from systemd" : "taken over";
      }
    }
    if (fd) {
      const int flags = ::fcntl(fd.get(), F_GETFL);
      ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK);
    } else {
      const int rc = listen::bind_listen_socket(reinterpret_cast<const sockaddr*>(&l.addr));
      if (rc < 0) {
        std::fprintf(stderr, "portcullis: listener %s: cannot listen on %s: %s%s\n",
                     l.cfg->name.c_str(), l.cfg->address.c_str(), uv_strerror(rc),
                     rc == -EADDRINUSE ? " (another process listens there; to replace a running "
                                         "portcullis, start the new one with `run --takeover`)"
                                       : "");
        return false;
      }
      fd = UniqueFd(rc);
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    std::fprintf(stderr, "portcullis: listening %s %s (%s)\n", l.cfg->name.c_str(),
                 io::to_string(reinterpret_cast<const sockaddr*>(&bound)).c_str(), how);
    out.push_back(std::move(fd));
  }
  inherited.clear();  // the ones no listener took: closed
  return true;
}

}  // namespace portcullis::gateway::runtime
