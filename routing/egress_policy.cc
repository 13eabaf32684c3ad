#include "routing/egress_policy.h"

#include "routing/authority.h"

namespace portcullis::routing {

namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// routing::normalize_host, with surrounding brackets dropped (configured IPv6 literals).
std::string policy_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return routing::normalize_host(host);
}

// A label an IPv4 parser would read as a number: decimal, octal (leading 0) or hex ("0x..",
// including a bare "0x").
bool numeric_label(std::string_view label) noexcept {
  if (label.empty()) {
    return false;
  }
  if (label.size() >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X')) {
    for (char c : label.substr(2)) {
      if (!is_hex(c)) {
        return false;
      }
    }
    return true;
  }
  for (char c : label) {
    if (!is_digit(c)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool looks_like_ip_literal(std::string_view host) noexcept {
  if (host.empty()) {
    return false;
  }
  // IPv6 in any form (brackets, zone ids, IPv4-mapped): no host name contains these.
  for (char c : host) {
    if (c == '[' || c == ']' || c == ':' || c == '%') {
      return true;
    }
  }
  if (host.back() == '.') {
    host.remove_suffix(1);
  }
  // WHATWG URL "ends in a number": if the last label is numeric, the whole host is parsed
  // as IPv4 (dotted, short "127.1", integer "2130706433", octal, hex "0x7f.1").
  const std::size_t dot = host.rfind('.');
  std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  return numeric_label(last);
}

void EgressPolicy::add(EgressRule rule) {
  std::string key = policy_host(rule.host);
  const std::size_t slot = rules_.size();
  rules_.push_back(std::move(rule));
  if (key.size() >= 2 && key[0] == '*' && key[1] == '.') {
    wildcard_[key.substr(2)].push_back(slot);
  } else {
    exact_[std::move(key)].push_back(slot);
  }
}

std::optional<Decision> EgressPolicy::decide_among(
    const std::unordered_map<std::string, std::vector<std::size_t>>& table,
    const std::string& key, std::string_view source_identity, std::uint16_t port) const {
  auto it = table.find(key);
  if (it == table.end()) {
    return std::nullopt;
  }
  std::optional<std::uint32_t> first;
  for (std::size_t slot : it->second) {
    const EgressRule& rule = rules_[slot];
    if (rule.port != port) {
      continue;
    }
    if (!first) {
      first = rule.index;
    }
    for (const std::string& allowed : rule.allow) {
      // "*" is any *mesh* identity; an unauthenticated (client_auth = "none") source must be
      // named explicitly ("unauthenticated").
      const bool mesh_source = source_identity.rfind("spiffe://", 0) == 0;
      if ((allowed == "*" && mesh_source) || allowed == source_identity) {
        return Decision{true, kEgressAllowed, rule.index};
      }
    }
  }
  if (!first) {
    return std::nullopt;
  }
  return Decision{false, kEgressIdentityNotAllowed, first};
}

Decision EgressPolicy::decide(std::string_view source_identity, std::string_view host,
                              std::uint16_t port) const {
  const std::string key = policy_host(host);
  if (key.empty()) {
    return Decision{false, kEgressNotListed, std::nullopt};
  }
  if (looks_like_ip_literal(host)) {
    if (auto d = decide_among(exact_, key, source_identity, port)) {
      return *d;
    }
    return Decision{false, kEgressIpLiteral, std::nullopt};
  }
  if (auto d = decide_among(exact_, key, source_identity, port)) {
    return *d;
  }
  const std::size_t dot = key.find('.');
  if (dot != std::string::npos && dot > 0 && dot + 1 < key.size()) {
    if (auto d = decide_among(wildcard_, key.substr(dot + 1), source_identity, port)) {
      return *d;
    }
  }
  return Decision{false, kEgressNotListed, std::nullopt};
}

}  // namespace portcullis::routing
