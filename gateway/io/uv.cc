#include "gateway/io/uv.h"

#include <arpa/inet.h>
#include <cstring>

#include "routing/authority.h"

namespace portcullis::gateway::io {

std::optional<HostPort> split_host_port(std::string_view s) {
  const auto a = routing::split_authority(s);
  if (!a || !a->port) {
    return std::nullopt;
  }
  return HostPort{std::string(a->host), *a->port};
}

bool parse_ip(const std::string& host, std::uint16_t port, sockaddr_storage& out) noexcept {
  std::memset(&out, 0, sizeof out);
  const auto ip = routing::parse_ip_literal(host);
  if (!ip) {
    return false;
  }
  if (!ip->v6) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
    std::memcpy(&v4->sin_addr, ip->bytes.data(), 4);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  std::memcpy(&v6->sin6_addr, ip->bytes.data(), 16);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(port);
  return true;
}

std::string ip_of(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

std::uint16_t port_of(const sockaddr* sa) noexcept {
  if (sa->sa_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  }
  if (sa->sa_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
  }
  return 0;
}

std::string to_string(const sockaddr* sa) {
  const std::string ip = ip_of(sa);
  const std::string port = std::to_string(port_of(sa));
  return sa->sa_family == AF_INET6 ? "[" + ip + "]:" + port : ip + ":" + port;
}

}  // namespace portcullis::gateway::io
