// Value grammars: what a duration, a size, an address, a host pattern, a SPIFFE ID, a pin and a
// tenant name look like in the configuration. Used by the loader (validate.h) and by analyzers
// and other stages so they agree with the loader on what is valid. Pure functions; never throw.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/config/config.h"

namespace portcullis::gateway::config {

// "15s", "500ms", "2m", "1h" (a non-negative integer and a unit).
std::optional<Millis> parse_duration(std::string_view s);
// "64KiB", "1MiB", "1GiB", "512B" or a bare number of bytes "4096".
std::optional<std::uint64_t> parse_size(std::string_view s);

// A numeric socket address: "a.b.c.d:port" or "[v6]:port". Port 0 is parsed (tests bind it).
struct SocketAddress {
  std::string host;  // without brackets
  std::uint16_t port = 0;
  bool v6 = false;
};
std::optional<SocketAddress> parse_socket_address(std::string_view s);
// 127.0.0.0/8 or ::1 (or ::ffff:127.x.y.z).
bool is_loopback(const SocketAddress& a);
// "10.0.0.0/8", "2001:db8::/32", or a single address.
bool valid_cidr(std::string_view s);
// "host:port" where host is a DNS name, an IPv4 address or "[v6]"; port 1-65535.
bool valid_endpoint(std::string_view s);
// A DNS name (labels of 1-63 characters, at most 253 in all); upper case and '_' when allowed.
bool valid_dns_name(std::string_view s, bool allow_upper, bool allow_underscore);
// Lower-case DNS name or "*.suffix" (one-label wildcard, suffix of at least two labels).
bool valid_host_pattern(std::string_view s);
// spiffe://trust-domain/path with a non-empty path of valid segments.
bool valid_spiffe_id(std::string_view s);
// [a-z0-9.-_]+ as SPIFFE allows for trust domain names.
bool valid_trust_domain(std::string_view s);
// "sha256/" + base64 of exactly 32 bytes.
bool valid_pin(std::string_view s);
// [a-z0-9-]{1,63}
bool valid_tenant_name(std::string_view s);

}  // namespace portcullis::gateway::config
