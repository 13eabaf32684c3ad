#include "gateway/snapshot/cidr.h"

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>
#include <algorithm>
#include <string>

#include "routing/authority.h"

namespace portcullis::gateway::listen {
namespace {

bool prefix_equal(const std::uint8_t* a, const std::uint8_t* b, unsigned bits) noexcept {
  const unsigned full = bits / 8;
  if (std::memcmp(a, b, full) != 0) {
    return false;
  }
  const unsigned rest = bits % 8;
  if (rest == 0) {
    return true;
  }
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
  Cidr c;
  const auto slash = text.find('/');
  const auto ip = routing::parse_ip_literal(text.substr(0, slash));
  if (!ip) {
    return std::nullopt;
  }
  c.v6_ = ip->v6;
  c.prefix_ = ip->v6 ? 128 : 32;
  std::copy(ip->bytes.begin(), ip->bytes.begin() + (ip->v6 ? 16 : 4), c.bytes_.begin());
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    if (p.empty() || p.size() > 3) {
      return std::nullopt;
    }
    unsigned v = 0;
    for (char ch : p) {
      if (ch < '0' || ch > '9') {
        return std::nullopt;
      }
      v = v * 10 + static_cast<unsigned>(ch - '0');
    }
    if (v > c.prefix_) {
      return std::nullopt;
    }
    c.prefix_ = v;
  }
  return c;
}

bool Cidr::contains(const sockaddr* addr) const noexcept {
  if (addr->sa_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(addr);
    return !v6_ && prefix_equal(reinterpret_cast<const std::uint8_t*>(&a->sin_addr),
                                bytes_.data(), prefix_);
  }
  if (addr->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(addr);
    const auto* b = reinterpret_cast<const std::uint8_t*>(&a->sin6_addr);
    if (v6_) {
      return prefix_equal(b, bytes_.data(), prefix_);
    }
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(b, kMapped, 12) == 0 && prefix_equal(b + 12, bytes_.data(), prefix_);
  }
  return false;
}

}  // namespace portcullis::gateway::listen
