#include "routing/authority.h"

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

}  // namespace portcullis::routing
