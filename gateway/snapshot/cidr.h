// Cidr: an address block ("10.0.0.0/8", "2001:db8::/32", or one address) and membership tests,
// for [[listener]] trusted_proxies.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include <sys/socket.h>

namespace portcullis::gateway::listen {

class Cidr {
 public:
  static std::optional<Cidr> parse(std::string_view text);
  // IPv4-mapped IPv6 peers (::ffff:a.b.c.d) match IPv4 blocks.
  bool contains(const sockaddr* addr) const noexcept;

 private:
  bool v6_ = false;
  std::array<std::uint8_t, 16> bytes_{};
  unsigned prefix_ = 0;
};

}  // namespace portcullis::gateway::listen
