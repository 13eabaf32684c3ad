// Helpers over protocol-neutral message heads (see message.h).
#include "gateway/http/message.h"

#include <algorithm>
#include <array>

namespace portcullis::gateway::http {

const std::string* find_header(const Headers& h, std::string_view name) noexcept {
  for (const Header& f : h) {
    if (f.name == name) {
      return &f.value;
    }
  }
  return nullptr;
}

void remove_header(Headers& h, std::string_view name) {
  h.erase(std::remove_if(h.begin(), h.end(), [name](const Header& f) { return f.name == name; }),
          h.end());
}

bool is_hop_by_hop(std::string_view lower_name) noexcept {
  // By length first: every field of every message is asked, and most names match no length
  // (nine string compares per field before).
  switch (lower_name.size()) {
    case 2:
      return lower_name == "te";
    case 7:
      return lower_name == "upgrade" || lower_name == "trailer";
    case 10:
      return lower_name == "connection" || lower_name == "keep-alive";
    case 16:
      return lower_name == "proxy-connection";
    case 17:
      return lower_name == "transfer-encoding";
    case 18:
      return lower_name == "proxy-authenticate";
    case 19:
      return lower_name == "proxy-authorization";
    default:
      return false;
  }
}

bool is_owned_field_alias(std::string_view lower_name) noexcept {
  if (lower_name.find('_') == std::string_view::npos) {
    return false;
  }
  static constexpr std::array<std::string_view, 11> kOwned = {
      "x-forwarded-for",   "x-forwarded-proto", "x-forwarded-host",    "x-forwarded-client-cert",
      "x-request-id",      "content-length",    "transfer-encoding",   "keep-alive",
      "proxy-connection",  "proxy-authenticate", "proxy-authorization"};
  for (std::string_view owned : kOwned) {
    if (owned.size() != lower_name.size()) {
      continue;
    }
    bool same = true;
    for (std::size_t i = 0; i < owned.size() && same; ++i) {
      const char c = lower_name[i] == '_' ? '-' : lower_name[i];
      same = c == owned[i];
    }
    if (same) {
      return true;
    }
  }
  return false;
}

bool valid_field_value(std::string_view v) noexcept {
  // No early exit: every field of every message runs here, and most are valid.
  unsigned bad = 0;
  for (char ch : v) {
    bad |= detail::kCharClass[static_cast<unsigned char>(ch)];
  }
  return (bad & 2) == 0;
}

bool forwardable_trailer(std::string_view lower_name) noexcept {
  if (lower_name.empty() || lower_name[0] == ':' || is_hop_by_hop(lower_name) ||
      is_owned_field_alias(lower_name)) {
    return false;
  }
  static constexpr std::array<std::string_view, 10> kNever = {
      "host",          "content-length",  "x-forwarded-for",         "x-forwarded-proto",
      "x-forwarded-host", "forwarded",    "x-forwarded-client-cert", "x-request-id",
      "cookie",        "expect"};
  for (std::string_view n : kNever) {
    if (n == lower_name) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> connection_tokens(std::string_view list) {
  std::vector<std::string> tokens;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view tok = list.substr(0, comma);
    while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) {
      tok.remove_prefix(1);
    }
    while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) {
      tok.remove_suffix(1);
    }
    if (!tok.empty()) {
      tokens.push_back(to_lower_ascii(tok));
    }
    if (comma == std::string_view::npos) {
      break;
    }
    list.remove_prefix(comma + 1);
  }
  return tokens;
}

std::string to_lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

void lower_ascii_in_place(std::string& s) noexcept {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
}

bool iequals_ascii(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') {
      x = static_cast<char>(x - 'A' + 'a');
    }
    if (y >= 'A' && y <= 'Z') {
      y = static_cast<char>(y - 'A' + 'a');
    }
    if (x != y) {
      return false;
    }
  }
  return true;
}

}  // namespace portcullis::gateway::http
