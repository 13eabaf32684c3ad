// Path -> route lookup for one tenant.
//
// What: matches a request path against exact paths and path prefixes, with nginx "location"
// semantics: the query string (everything from the first '?') is ignored; an exact path match
// wins over any prefix; otherwise the LONGEST matching prefix wins, whatever the order the
// prefixes were added in. Prefixes compare bytes as written (case-sensitive, no normalisation):
// "/api/" matches "/api/x" but not "/api"; "/api" matches "/api", "/api/x" and "/apix".
// Adding the same exact path or prefix twice keeps the first route index.
// Thread: immutable after building; concurrent match() calls are safe.
// Ownership: owns copies of every path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portcullis::routing {

class RouteTable {
 public:
  void add_exact(std::string path, std::uint32_t route_index);
  void add_prefix(std::string prefix, std::uint32_t route_index);

  std::optional<std::uint32_t> match(std::string_view path) const;

  bool empty() const noexcept { return exact_.empty() && prefixes_.empty(); }

 private:
  struct Prefix {
    std::string prefix;
    std::uint32_t route_index;
  };

  std::unordered_map<std::string, std::uint32_t> exact_;
  // Kept sorted by descending prefix length, so the first match is the longest.
  std::vector<Prefix> prefixes_;
};

}  // namespace portcullis::routing
