// Value grammars of the configuration: durations, sizes, addresses, host patterns, SPIFFE IDs,
// pins, tenant names. Address splitting, host patterns and SPIFFE IDs come from routing/, so the
// loader accepts exactly what the tables that will hold the values accept.
#include "gateway/config/grammar.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "routing/authority.h"
#include "routing/host_table.h"
#include "routing/spiffe_id.h"

namespace portcullis::gateway::config {

namespace {

std::optional<std::uint64_t> parse_uint(std::string_view s) {
  if (s.empty() || s.size() > 19) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

bool valid_ipv4(std::string_view s) {
  const auto ip = routing::parse_ip_literal(s);
  return ip && !ip->v6;
}

bool valid_ipv6(std::string_view s) {
  const auto ip = routing::parse_ip_literal(s);
  return ip && ip->v6;
}

bool valid_dns_label(std::string_view l, bool allow_upper, bool allow_underscore) {
  if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') {
    return false;
  }
  for (char c : l) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    (allow_upper && c >= 'A' && c <= 'Z') || (allow_underscore && c == '_');
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool decode_base64(std::string_view s, std::string& out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (s.size() % 4 != 0) {
    return false;
  }
  out.clear();
  for (std::size_t i = 0; i < s.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = s[i + j];
      if (c == '=') {
        if (i + 4 != s.size() || j < 2) {
          return false;
        }
        v[j] = 0;
        ++pad;
      } else {
        if (pad > 0) {
          return false;
        }
        v[j] = val(c);
        if (v[j] < 0) {
          return false;
        }
      }
    }
    const std::uint32_t n = (static_cast<std::uint32_t>(v[0]) << 18) |
                            (static_cast<std::uint32_t>(v[1]) << 12) |
                            (static_cast<std::uint32_t>(v[2]) << 6) |
                            static_cast<std::uint32_t>(v[3]);
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) {
      out += static_cast<char>((n >> 8) & 0xff);
    }
    if (pad < 1) {
      out += static_cast<char>(n & 0xff);
    }
  }
  return true;
}

}  // namespace

bool valid_dns_name(std::string_view s, bool allow_upper, bool allow_underscore) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = s.find('.', start);
    const std::string_view label =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!valid_dns_label(label, allow_upper, allow_underscore)) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

std::optional<Millis> parse_duration(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    ++i;
  }
  auto n = parse_uint(s.substr(0, i));
  if (!n || *n > 1'000'000'000'000ULL) {
    return std::nullopt;
  }
  const std::string_view unit = s.substr(i);
  std::uint64_t ms = 0;
  if (unit == "ms") {
    ms = *n;
  } else if (unit == "s") {
    ms = *n * 1000;
  } else if (unit == "m") {
    ms = *n * 60'000;
  } else if (unit == "h") {
    ms = *n * 3'600'000;
  } else {
    return std::nullopt;
  }
  return Millis{static_cast<Millis::rep>(ms)};
}

std::optional<std::uint64_t> parse_size(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    ++i;
  }
  auto n = parse_uint(s.substr(0, i));
  if (!n || *n > (1ULL << 40)) {
    return std::nullopt;
  }
  const std::string_view unit = s.substr(i);
  if (unit.empty() || unit == "B") {
    return *n;
  }
  if (unit == "KiB") {
    return *n << 10;
  }
  if (unit == "MiB") {
    return *n << 20;
  }
  if (unit == "GiB") {
    return *n << 30;
  }
  return std::nullopt;
}

std::optional<SocketAddress> parse_socket_address(std::string_view s) {
  const auto parts = routing::split_authority(s);
  if (!parts || !parts->port) {
    return std::nullopt;
  }
  SocketAddress a;
  a.host = std::string(parts->host);
  a.v6 = parts->bracketed;
  if (a.v6 ? !valid_ipv6(a.host) : !valid_ipv4(a.host)) {
    return std::nullopt;
  }
  a.port = *parts->port;
  return a;
}

bool is_loopback(const SocketAddress& a) {
  const auto ip = routing::parse_ip_literal(a.host);
  if (!ip || ip->v6 != a.v6) {
    return false;
  }
  if (!ip->v6) {
    return ip->bytes[0] == 127;
  }
  static constexpr std::array<std::uint8_t, 16> kLoopback{0, 0, 0, 0, 0, 0, 0, 0,
                                                          0, 0, 0, 0, 0, 0, 0, 1};
  static constexpr std::array<std::uint8_t, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (ip->bytes == kLoopback) {
    return true;
  }
  return std::equal(kMapped.begin(), kMapped.end(), ip->bytes.begin()) && ip->bytes[12] == 127;
}

bool valid_cidr(std::string_view s) {
  const std::size_t slash = s.find('/');
  const std::string host(s.substr(0, slash));
  const bool v4 = valid_ipv4(host);
  const bool v6 = !v4 && valid_ipv6(host);
  if (!v4 && !v6) {
    return false;
  }
  if (slash == std::string_view::npos) {
    return true;
  }
  auto bits = parse_uint(s.substr(slash + 1));
  return bits && *bits <= (v4 ? 32U : 128U);
}

bool valid_endpoint(std::string_view s) {
  const auto parts = routing::split_authority(s);
  if (!parts || !parts->port || *parts->port == 0) {
    return false;
  }
  const std::string host(parts->host);
  return parts->bracketed ? valid_ipv6(host)
                          : valid_ipv4(host) || valid_dns_name(host, true, true);
}

bool valid_host_pattern(std::string_view s) {
  // routing's rules (the table that will hold the pattern), in the canonical spelling only.
  return routing::HostTable::valid_pattern(s, nullptr) && routing::HostTable::normalize(s) == s;
}

bool valid_trust_domain(std::string_view s) {
  return !s.empty() && routing::parse_spiffe_id("spiffe://" + std::string(s) + "/x").has_value();
}

bool valid_spiffe_id(std::string_view s) { return routing::parse_spiffe_id(s).has_value(); }

bool valid_pin(std::string_view s) {
  constexpr std::string_view kPrefix = "sha256/";
  if (!s.starts_with(kPrefix)) {
    return false;
  }
  std::string raw;
  return decode_base64(s.substr(kPrefix.size()), raw) && raw.size() == 32;
}

bool valid_tenant_name(std::string_view s) {
  if (s.empty() || s.size() > 63) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace portcullis::gateway::config
