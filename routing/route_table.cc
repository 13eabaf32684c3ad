#include "routing/route_table.h"

#include <algorithm>

namespace portcullis::routing {

void RouteTable::add_exact(std::string path, std::uint32_t route_index) {
  exact_.emplace(std::move(path), route_index);
}

void RouteTable::add_prefix(std::string prefix, std::uint32_t route_index) {
  for (const Prefix& p : prefixes_) {
    if (p.prefix == prefix) {
      return;
    }
  }
  // Insert after every prefix at least as long: longest first, ties in insertion order.
  auto pos = std::find_if(prefixes_.begin(), prefixes_.end(), [&](const Prefix& p) {
    return p.prefix.size() < prefix.size();
  });
  prefixes_.insert(pos, Prefix{std::move(prefix), route_index});
}

std::optional<std::uint32_t> RouteTable::match(std::string_view path) const {
  if (const std::size_t q = path.find('?'); q != std::string_view::npos) {
    path = path.substr(0, q);
  }
  if (!exact_.empty()) {
    if (auto it = exact_.find(std::string(path)); it != exact_.end()) {
      return it->second;
    }
  }
  for (const Prefix& p : prefixes_) {
    if (path.size() >= p.prefix.size() && path.compare(0, p.prefix.size(), p.prefix) == 0) {
      return p.route_index;
    }
  }
  return std::nullopt;
}

}  // namespace portcullis::routing
