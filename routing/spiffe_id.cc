#include "routing/spiffe_id.h"

namespace portcullis::routing {

namespace {

constexpr std::string_view kScheme = "spiffe://";

bool td_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

bool path_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '-' || c == '_';
}

}  // namespace

std::optional<SpiffeId> parse_spiffe_id(std::string_view id) {
  if (id.size() > kMaxSpiffeIdLength || id.substr(0, kScheme.size()) != kScheme) {
    return std::nullopt;
  }
  std::string_view rest = id.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return std::nullopt;  // workload IDs need a path
  }
  std::string_view td = rest.substr(0, slash);
  std::string_view path = rest.substr(slash);
  if (td.empty()) {
    return std::nullopt;
  }
  for (char c : td) {
    if (!td_char(c)) {
      return std::nullopt;  // also rejects ':' (port), '@' (userinfo), upper case
    }
  }
  // path = 1*("/" segment)
  std::size_t pos = 0;
  while (pos < path.size()) {
    // path[pos] == '/'
    std::size_t next = path.find('/', pos + 1);
    if (next == std::string_view::npos) {
      next = path.size();
    }
    std::string_view seg = path.substr(pos + 1, next - pos - 1);
    if (seg.empty() || seg == "." || seg == "..") {
      return std::nullopt;
    }
    for (char c : seg) {
      if (!path_char(c)) {
        return std::nullopt;  // also rejects '?', '#', '%'
      }
    }
    pos = next;
  }
  return SpiffeId{std::string(td), std::string(path)};
}

bool in_namespace(std::string_view id, std::string_view trust_domain, std::string_view ns) {
  if (ns.empty() || trust_domain.empty()) {
    return false;
  }
  std::optional<SpiffeId> parsed = parse_spiffe_id(id);
  if (!parsed || parsed->trust_domain != trust_domain) {
    return false;
  }
  std::string prefix = "/ns/";
  prefix.append(ns);
  prefix.push_back('/');
  const std::string& path = parsed->path;
  // A segment must follow; parse_spiffe_id already refused empty segments.
  return path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace portcullis::routing
