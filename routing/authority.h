// Authority: the one parser for "host", "host:port", "[v6]" and "[v6]:port" (RFC 3986 3.2),
// shared by request routing (Host / :authority), egress destinations and configured addresses.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::routing {

struct Authority {
  std::string_view host;  // without brackets; as written (not lower-cased)
  std::optional<std::uint16_t> port;  // absent when the authority has no ":port"
  bool bracketed = false;             // "[v6]" form
};

// nullopt when malformed: empty host, unclosed bracket, an unbracketed IPv6 literal (more than one
// ':'), an empty or non-numeric port, or one above 65535. Port 0 is returned as written: callers
// decide whether it means anything.
std::optional<Authority> split_authority(std::string_view authority) noexcept;

// Lower-case ASCII, without one trailing dot: the form host names are compared in.
std::string normalize_host(std::string_view host);

// An IP address written as text: a strict dotted quad (four parts 0..255, no leading zeros, so
// "127.1", "0x7f.0.0.1" and "010.0.0.1" are not addresses), or an IPv6 address of hex digits, ':'
// and '.' only (no zone id, no brackets). Network byte order; v4 uses the first 4 bytes.
struct IpLiteral {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
};
std::optional<IpLiteral> parse_ip_literal(std::string_view text) noexcept;

// RFC 1123 host name: dot-separated labels of 1..63 letters, digits and '-' (not first or last),
// at most 253 bytes, no trailing dot. A name whose last label is numeric (a number an IPv4
// parser would read: decimal, octal or 0x hex) must be a strict dotted quad.
bool is_host_name(std::string_view host) noexcept;

// An authority, checked: "[v6]" only around an IPv6 literal. Outside brackets, `rule` says what
// the host may be: host_name = is_host_name() or a dotted quad (one trailing dot allowed);
// any = whatever split_authority() takes, left for the caller's policy to judge (the egress
// policy refuses every numeric spelling of an address by its own reason).
enum class HostRule : std::uint8_t { host_name, any };
struct HostPort {
  std::string host;  // normalize_host()d, without brackets
  std::optional<std::uint16_t> port;
  bool ip_literal = false;
  bool trailing_dot = false;  // the name was written with a trailing dot (dropped from host)
};
std::optional<HostPort> parse_authority(std::string_view authority,
                                        HostRule rule = HostRule::host_name);

}  // namespace portcullis::routing
