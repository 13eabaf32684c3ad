#include "routing/authority.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace portcullis::routing {

std::optional<Authority> split_authority(std::string_view s) noexcept {
  Authority a;
  std::string_view port;
  bool has_port = false;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    a.bracketed = true;
    a.host = s.substr(1, close - 1);
    const std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return std::nullopt;
      }
      has_port = true;
      port = rest.substr(1);
    }
  } else if (const auto colon = s.rfind(':'); colon != std::string_view::npos) {
    if (s.find(':') != colon) {
      return std::nullopt;  // a bare IPv6 literal must be bracketed
    }
    a.host = s.substr(0, colon);
    has_port = true;
    port = s.substr(colon + 1);
  } else {
    a.host = s;
  }
  if (a.host.empty()) {
    return std::nullopt;
  }
  if (has_port) {
    if (port.empty() || port.size() > 5) {
      return std::nullopt;
    }
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') {
        return std::nullopt;
      }
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) {
      return std::nullopt;
    }
    a.port = static_cast<std::uint16_t>(value);
  }
  return a;
}

std::string normalize_host(std::string_view host) {
  std::string out(host);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  if (!out.empty() && out.back() == '.') {
    out.pop_back();
  }
  return out;
}

namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool parse_ipv4(std::string_view s, std::uint8_t* out) noexcept {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    const std::size_t start = i;
    unsigned value = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 3) {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
    }
    const std::size_t n = i - start;
    if (n == 0 || value > 255 || (n > 1 && s[start] == '0')) {
      return false;
    }
    out[parts++] = static_cast<std::uint8_t>(value);
    if (i == s.size()) {
      return parts == 4;
    }
    if (s[i] != '.' || parts == 4) {
      return false;
    }
    ++i;
  }
}

// A label inet_aton() would read as a number (decimal, octal or 0x hex, a bare "0x" included).
bool numeric_label(std::string_view label) noexcept {
  if (label.size() >= 2 && label[0] == '0' && lower(label[1]) == 'x') {
    for (std::size_t i = 2; i < label.size(); ++i) {
      const char c = lower(label[i]);
      if (!is_digit(c) && !(c >= 'a' && c <= 'f')) {
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
  return !label.empty();
}

}  // namespace

std::optional<IpLiteral> parse_ip_literal(std::string_view text) noexcept {
  IpLiteral ip;
  if (parse_ipv4(text, ip.bytes.data())) {
    return ip;
  }
  if (text.empty() || text.size() > 45 || text.find(':') == std::string_view::npos) {
    return std::nullopt;
  }
  for (char c : text) {
    const char l = lower(c);
    if (!is_digit(l) && !(l >= 'a' && l <= 'f') && l != ':' && l != '.') {
      return std::nullopt;  // no zone id ("%eth0") or anything else inet_pton might take
    }
  }
  char buf[46];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  in6_addr a{};
  if (inet_pton(AF_INET6, buf, &a) != 1) {
    return std::nullopt;
  }
  ip.v6 = true;
  std::memcpy(ip.bytes.data(), &a, 16);
  return ip;
}

bool is_host_name(std::string_view s) noexcept {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  std::size_t start = 0;
  std::string_view last;
  while (true) {
    std::size_t end = s.find('.', start);
    if (end == std::string_view::npos) {
      end = s.size();
    }
    const std::string_view label = s.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      const char l = lower(c);
      if (!(l >= 'a' && l <= 'z') && !is_digit(l) && l != '-') {
        return false;
      }
    }
    last = label;
    if (end == s.size()) {
      break;
    }
    start = end + 1;
  }
  if (numeric_label(last)) {
    std::uint8_t b[4];
    return parse_ipv4(s, b);
  }
  return true;
}

std::optional<HostPort> parse_authority(std::string_view authority, HostRule rule) {
  const auto a = split_authority(authority);
  if (!a) {
    return std::nullopt;
  }
  HostPort out;
  out.port = a->port;
  if (a->bracketed) {
    // Brackets hold an IPv6 literal and nothing else (RFC 3986 3.2.2; IPvFuture is not served).
    const auto ip = parse_ip_literal(a->host);
    if (!ip || !ip->v6) {
      return std::nullopt;
    }
    out.host = normalize_host(a->host);
    out.ip_literal = true;
    return out;
  }
  std::string_view name = a->host;
  if (name.size() > 1 && name.back() == '.') {
    name.remove_suffix(1);
    out.trailing_dot = true;
  }
  if (rule == HostRule::host_name && !is_host_name(name)) {
    return std::nullopt;
  }
  out.host = normalize_host(name);
  if (out.host.empty() || out.host.back() == '.') {
    return std::nullopt;  // "." or "a.." (only one trailing dot is dropped)
  }
  out.ip_literal = parse_ip_literal(out.host).has_value();
  return out;
}

}  // namespace portcullis::routing
