#include "gateway/egress/address_class.h"

#include <cstddef>
#include <cstdint>

namespace portcullis::gateway::egress {

namespace {

constexpr std::size_t kMaxIpv6Text = 45;  // "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"

// Strict dotted quad: four decimal parts 0..255, no leading zeros, nothing else.
bool parse_ipv4(std::string_view s, std::uint32_t& out) noexcept {
  std::uint32_t value = 0;
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    const std::size_t start = i;
    unsigned part = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      part = part * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
      if (i - start > 3) {
        return false;
      }
    }
    const std::size_t digits = i - start;
    if (digits == 0 || part > 255 || (digits > 1 && s[start] == '0')) {
      return false;
    }
    value = (value << 8) | part;
    ++parts;
    if (i == s.size()) {
      break;
    }
    if (s[i] != '.' || parts == 4) {
      return false;
    }
    ++i;
  }
  if (parts != 4) {
    return false;
  }
  out = value;
  return true;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Parses colon-separated groups ("" gives none). When `v4_tail` the last piece may be a
// dotted quad, which yields two groups.
bool parse_groups(std::string_view part, std::uint16_t* groups, int& count, bool v4_tail) noexcept {
  count = 0;
  if (part.empty()) {
    return true;
  }
  std::size_t start = 0;
  while (true) {
    std::size_t colon = part.find(':', start);
    const bool last = colon == std::string_view::npos;
    if (last) {
      colon = part.size();
    }
    const std::string_view piece = part.substr(start, colon - start);
    if (piece.empty()) {
      return false;
    }
    if (last && v4_tail && piece.find('.') != std::string_view::npos) {
      std::uint32_t v4 = 0;
      if (count > 6 || !parse_ipv4(piece, v4)) {
        return false;
      }
      groups[count++] = static_cast<std::uint16_t>(v4 >> 16);
      groups[count++] = static_cast<std::uint16_t>(v4 & 0xffff);
      return true;
    }
    if (piece.size() > 4 || count >= 8) {
      return false;
    }
    unsigned g = 0;
    for (char c : piece) {
      const int h = hex_value(c);
      if (h < 0) {
        return false;
      }
      g = (g << 4) | static_cast<unsigned>(h);
    }
    groups[count++] = static_cast<std::uint16_t>(g);
    if (last) {
      return true;
    }
    start = colon + 1;
  }
}

// RFC 4291 2.2 text forms, including "::" and a dotted-quad tail.
bool parse_ipv6(std::string_view s, unsigned char out[16]) noexcept {
  if (s.size() < 2 || s.size() > kMaxIpv6Text) {
    return false;
  }
  std::uint16_t head[8] = {};
  std::uint16_t tail[8] = {};
  int nh = 0;
  int nt = 0;
  const std::size_t gap = s.find("::");
  if (gap == std::string_view::npos) {
    if (!parse_groups(s, head, nh, true) || nh != 8) {
      return false;
    }
  } else {
    if (s.find("::", gap + 1) != std::string_view::npos) {
      return false;
    }
    if (!parse_groups(s.substr(0, gap), head, nh, false) ||
        !parse_groups(s.substr(gap + 2), tail, nt, true) || nh + nt > 7) {
      return false;
    }
  }
  std::uint16_t groups[8] = {};
  for (int i = 0; i < nh; ++i) {
    groups[i] = head[i];
  }
  for (int i = 0; i < nt; ++i) {
    groups[8 - nt + i] = tail[i];
  }
  for (int i = 0; i < 8; ++i) {
    out[2 * i] = static_cast<unsigned char>(groups[i] >> 8);
    out[2 * i + 1] = static_cast<unsigned char>(groups[i] & 0xff);
  }
  return true;
}

bool in_v4(std::uint32_t a, std::uint32_t net, int prefix) noexcept {
  const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  return (a & mask) == net;
}

AddressClass classify_v4(std::uint32_t a) noexcept {
  if (in_v4(a, 0x00000000, 8)) {
    return AddressClass::unspecified;
  }
  if (in_v4(a, 0x7F000000, 8)) {
    return AddressClass::loopback;
  }
  if (in_v4(a, 0xA9FE0000, 16)) {
    return AddressClass::link_local;
  }
  if (in_v4(a, 0x0A000000, 8) || in_v4(a, 0xAC100000, 12) || in_v4(a, 0xC0A80000, 16)) {
    return AddressClass::private_range;
  }
  if (in_v4(a, 0x64400000, 10)) {
    return AddressClass::cgnat;
  }
  if (a == 0xFFFFFFFF) {
    return AddressClass::broadcast;
  }
  if (in_v4(a, 0xE0000000, 4)) {
    return AddressClass::multicast;
  }
  if (in_v4(a, 0xF0000000, 4) ||   // 240/4 future use
      in_v4(a, 0xC0000000, 24) ||  // 192.0.0/24 IETF protocol assignments
      in_v4(a, 0xC0000200, 24) ||  // 192.0.2/24 TEST-NET-1
      in_v4(a, 0xC6336400, 24) ||  // 198.51.100/24 TEST-NET-2
      in_v4(a, 0xCB007100, 24) ||  // 203.0.113/24 TEST-NET-3
      in_v4(a, 0xC6120000, 15) ||  // 198.18/15 benchmarking
      in_v4(a, 0xC0586300, 24)) {  // 192.88.99/24 deprecated 6to4 relay anycast
    return AddressClass::reserved;
  }
  return AddressClass::public_unicast;
}

std::uint32_t v4_at(const unsigned char* b) noexcept {
  return (static_cast<std::uint32_t>(b[0]) << 24) | (static_cast<std::uint32_t>(b[1]) << 16) |
         (static_cast<std::uint32_t>(b[2]) << 8) | b[3];
}

bool zero(const unsigned char* b, int from, int to) noexcept {
  for (int i = from; i < to; ++i) {
    if (b[i] != 0) {
      return false;
    }
  }
  return true;
}

AddressClass classify_v6(const unsigned char b[16]) noexcept {
  if (zero(b, 0, 16)) {
    return AddressClass::unspecified;
  }
  if (zero(b, 0, 15) && b[15] == 1) {
    return AddressClass::loopback;
  }
  // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (translated), ::a.b.c.d (compatible)
  if ((zero(b, 0, 10) && b[10] == 0xff && b[11] == 0xff) ||
      (zero(b, 0, 8) && b[8] == 0xff && b[9] == 0xff && zero(b, 10, 12)) || zero(b, 0, 12)) {
    return classify_v4(v4_at(b + 12));
  }
  const unsigned first = (static_cast<unsigned>(b[0]) << 8) | b[1];
  if (first == 0x0064 && b[2] == 0xff && b[3] == 0x9b) {
    if (zero(b, 4, 12)) {
      return classify_v4(v4_at(b + 12));  // 64:ff9b::/96 well-known NAT64 prefix
    }
    if (b[4] == 0x00 && b[5] == 0x01) {
      return AddressClass::reserved;  // 64:ff9b:1::/48 local-use NAT64 (RFC 8215)
    }
  }
  if (first == 0x2002) {
    return classify_v4(v4_at(b + 2));  // 6to4
  }
  if (first == 0x0100 && zero(b, 2, 8)) {
    return AddressClass::reserved;  // 100::/64 discard-only
  }
  if ((first == 0x2001 && b[2] == 0x0d && b[3] == 0xb8) ||  // 2001:db8::/32 documentation
      (first == 0x2001 && (b[2] & 0xfe) == 0) ||            // 2001::/23 IETF protocol assignments
      (first == 0x3fff && (b[2] & 0xf0) == 0)) {            // 3fff::/20 documentation
    return AddressClass::reserved;
  }
  if ((b[0] & 0xfe) == 0xfc) {
    return AddressClass::unique_local;
  }
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
    return AddressClass::link_local;
  }
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) {
    return AddressClass::private_range;  // deprecated site-local fec0::/10
  }
  if (b[0] == 0xff) {
    return AddressClass::multicast;
  }
  if ((b[0] & 0xe0) != 0x20) {
    return AddressClass::reserved;  // outside 2000::/3 global unicast
  }
  return AddressClass::public_unicast;
}

}  // namespace

AddressClass classify(std::string_view ip_text) noexcept {
  std::string_view s = ip_text;
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') {
    s = s.substr(1, s.size() - 2);
  }
  if (s.find(':') == std::string_view::npos) {
    std::uint32_t v4 = 0;
    return parse_ipv4(s, v4) ? classify_v4(v4) : AddressClass::invalid;
  }
  const std::size_t zone = s.find('%');
  if (zone != std::string_view::npos) {
    if (zone + 1 == s.size()) {
      return AddressClass::invalid;
    }
    s = s.substr(0, zone);
  }
  unsigned char bytes[16];
  return parse_ipv6(s, bytes) ? classify_v6(bytes) : AddressClass::invalid;
}

bool refused_by_default(AddressClass c) noexcept { return c != AddressClass::public_unicast; }

std::string_view to_string(AddressClass c) noexcept {
  switch (c) {
    case AddressClass::public_unicast:
      return "public_unicast";
    case AddressClass::loopback:
      return "loopback";
    case AddressClass::link_local:
      return "link_local";
    case AddressClass::private_range:
      return "private_range";
    case AddressClass::unique_local:
      return "unique_local";
    case AddressClass::unspecified:
      return "unspecified";
    case AddressClass::multicast:
      return "multicast";
    case AddressClass::broadcast:
      return "broadcast";
    case AddressClass::reserved:
      return "reserved";
    case AddressClass::cgnat:
      return "cgnat";
    case AddressClass::invalid:
      return "invalid";
  }
  return "invalid";
}

}  // namespace portcullis::gateway::egress
