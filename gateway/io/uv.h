// The small libuv helpers every glue class uses: handle -> owner, address formatting/parsing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <uv.h>

namespace portcullis::gateway::io {

// libuv handles carry a void* data pointing at their owner.
template <class T, class H>
T& owner_of(H* handle) noexcept {
  return *static_cast<T*>(reinterpret_cast<uv_handle_t*>(handle)->data);
}

struct HostPort {
  std::string host;  // without brackets
  std::uint16_t port = 0;
};
// "1.2.3.4:80", "[::1]:80", "name:80".
std::optional<HostPort> split_host_port(std::string_view s);

// Fills `out` when host is an IPv4/IPv6 literal.
bool parse_ip(const std::string& host, std::uint16_t port, sockaddr_storage& out) noexcept;

// "1.2.3.4" / "::1" and port.
std::string ip_of(const sockaddr* sa);
std::uint16_t port_of(const sockaddr* sa) noexcept;
// "1.2.3.4:80" / "[::1]:80".
std::string to_string(const sockaddr* sa);

}  // namespace portcullis::gateway::io
