#include "routing/host_table.h"

#include "routing/authority.h"

namespace portcullis::routing {

namespace {

constexpr std::size_t kMaxNameLength = 253;
constexpr std::size_t kMaxLabelLength = 63;

bool is_ldh(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool fail(std::string* why, std::string message) {
  if (why != nullptr) {
    *why = std::move(message);
  }
  return false;
}

}  // namespace

std::string HostTable::normalize(std::string_view name) { return normalize_host(name); }

bool HostTable::add(std::string_view pattern, TenantId id) {
  std::string key = normalize(pattern);
  if (key.size() >= 2 && key[0] == '*' && key[1] == '.') {
    return wildcard_.emplace(key.substr(2), id).second;
  }
  return exact_.emplace(std::move(key), id).second;
}

std::optional<TenantId> HostTable::find(std::string_view host) const {
  if (host.empty()) {
    return std::nullopt;
  }
  std::string key = normalize(host);
  if (key.empty()) {
    return std::nullopt;
  }
  if (auto it = exact_.find(key); it != exact_.end()) {
    return it->second;
  }
  const std::size_t dot = key.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 >= key.size()) {
    return std::nullopt;
  }
  if (auto it = wildcard_.find(key.substr(dot + 1)); it != wildcard_.end()) {
    return it->second;
  }
  return std::nullopt;
}

std::optional<TenantId> HostTable::find_pattern(std::string_view pattern) const {
  std::string key = normalize(pattern);
  if (key.size() >= 2 && key[0] == '*' && key[1] == '.') {
    if (auto it = wildcard_.find(key.substr(2)); it != wildcard_.end()) {
      return it->second;
    }
    return std::nullopt;
  }
  if (auto it = exact_.find(key); it != exact_.end()) {
    return it->second;
  }
  return std::nullopt;
}

bool HostTable::valid_pattern(std::string_view pattern, std::string* why) {
  std::string_view name = pattern;
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  if (name.empty()) {
    return fail(why, "empty host name");
  }
  if (name.size() > kMaxNameLength) {
    return fail(why, "host name longer than 253 characters");
  }
  bool wildcard = false;
  if (name[0] == '*') {
    if (name.size() < 3 || name[1] != '.') {
      return fail(why, "'*' must be the whole first label, as in \"*.example.com\"");
    }
    wildcard = true;
    name.remove_prefix(2);
  }
  std::size_t labels = 0;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('.', start);
    if (end == std::string_view::npos) {
      end = name.size();
    }
    std::string_view label = name.substr(start, end - start);
    if (label.empty()) {
      return fail(why, "empty label in host name");
    }
    if (label.size() > kMaxLabelLength) {
      return fail(why, "label longer than 63 characters");
    }
    for (char c : label) {
      if (c == '*') {
        return fail(why, "'*' is allowed only as the whole first label");
      }
      if (!is_ldh(c)) {
        return fail(why, "host names may contain only letters, digits, '-' and '.'");
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return fail(why, "a label may not begin or end with '-'");
    }
    ++labels;
    start = end + 1;
  }
  if (wildcard && labels < 2) {
    return fail(why, "a wildcard needs at least two labels after '*.'");
  }
  return true;
}

}  // namespace portcullis::routing
