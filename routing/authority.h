// Authority: the one parser for "host", "host:port", "[v6]" and "[v6]:port" (RFC 3986 3.2),
// shared by request routing (Host / :authority), egress destinations and configured addresses.
#pragma once

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

}  // namespace portcullis::routing
