// Egress policy: which mesh identity may reach which destination.
//
// What: default deny. A destination (host, port) is reachable only if a rule lists it and the
// rule's allow list holds the source identity (or "*", which matches any source identity,
// including the empty identity of a client_auth = "none" listener). Host matching is
// case-insensitive, ignores one trailing dot, and tries exact rules first; only if no exact
// rule names the (host, port) are one-label wildcard rules ("*.partner.example") consulted, so
// an exact rule shadows a wildcard. Destinations spelled as IP literals (in any of the many
// spellings resolvers accept: "127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.1", "127.1",
// "::1", "[::1]", "::ffff:127.0.0.1", "fe80::1%eth0") are denied with reason "ip_literal"
// unless a rule names exactly that literal (brackets aside).
// Thread: immutable after building; concurrent decide() calls are safe.
// Ownership: owns the rules; Decision::reason points at static strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portcullis::routing {

struct EgressRule {
  std::string host;                // "api.partner.example", "*.partner.example" or an IP literal
  std::uint16_t port = 0;
  std::vector<std::string> allow;  // source identities; "*" = any
  std::uint32_t index = 0;         // caller's index (position of the [[egress]] table)
};

// Reasons, used verbatim in the audit log and metrics.
inline constexpr std::string_view kEgressAllowed = "allowed";
inline constexpr std::string_view kEgressNotListed = "destination_not_listed";
inline constexpr std::string_view kEgressIdentityNotAllowed = "identity_not_allowed";
inline constexpr std::string_view kEgressIpLiteral = "ip_literal";

struct Decision {
  bool allow = false;
  std::string_view reason;           // one of the kEgress* constants
  std::optional<std::uint32_t> rule; // index of the matching rule, if one matched the destination
};

// True for anything a resolver or URL parser could take as an IP address rather than a name:
// IPv6 (with or without brackets, with zone id, IPv4-mapped), and IPv4 in dotted, short,
// decimal-integer, octal and hex forms (any name whose last label is numeric, WHATWG-style).
bool looks_like_ip_literal(std::string_view host) noexcept;

class EgressPolicy {
 public:
  void add(EgressRule rule);

  Decision decide(std::string_view source_identity, std::string_view host,
                  std::uint16_t port) const;

  const std::vector<EgressRule>& rules() const noexcept { return rules_; }

 private:
  // Looks up rules stored under key for port; nullopt if none names (key, port).
  std::optional<Decision> decide_among(
      const std::unordered_map<std::string, std::vector<std::size_t>>& table,
      const std::string& key, std::string_view source_identity, std::uint16_t port) const;

  std::vector<EgressRule> rules_;
  // Normalised exact host (or IP literal without brackets) -> indexes into rules_.
  std::unordered_map<std::string, std::vector<std::size_t>> exact_;
  // Wildcard suffix ("partner.example" for "*.partner.example") -> indexes into rules_.
  std::unordered_map<std::string, std::vector<std::size_t>> wildcard_;
};

}  // namespace portcullis::routing
