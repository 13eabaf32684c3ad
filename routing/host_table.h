// Host name -> tenant lookup for SNI and Host/:authority routing.
//
// What: maps exact host names ("shop.acme.example") and one-label wildcards
// ("*.api.acme.example") to a TenantId. Lookups are case-insensitive, ignore one trailing dot,
// try the exact name first and then the wildcard for the name with its first label removed, so
// each lookup is at most two hash probes (O(1) at 100k names). A wildcard matches exactly one
// label: "*.acme.example" matches "a.acme.example" but neither "a.b.acme.example" nor
// "acme.example".
// Thread: immutable after building; concurrent find() calls are safe.
// Ownership: owns copies of every pattern.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace portcullis::routing {

using TenantId = std::uint32_t;

class HostTable {
 public:
  // Adds a pattern ("exact.name" or "*.suffix"); stored lower-case without a trailing dot.
  // Returns false if that exact pattern (after normalising) is already present. Patterns are
  // not validated here; call valid_pattern() first.
  bool add(std::string_view pattern, TenantId id);

  // Exact name first, then the one-label wildcard covering it.
  std::optional<TenantId> find(std::string_view host) const;

  // The tenant owning exactly this pattern (no wildcard expansion), if any.
  std::optional<TenantId> find_pattern(std::string_view pattern) const;

  std::size_t size() const noexcept { return exact_.size() + wildcard_.size(); }

  // LDH labels (letters, digits, hyphen; no leading/trailing hyphen), each 1..63 bytes, whole
  // name at most 253 bytes (without the optional trailing dot), at least two labels for a
  // wildcard; '*' allowed only as the whole first label followed by a suffix. On failure
  // returns false and, if why is not null, says what is wrong.
  static bool valid_pattern(std::string_view pattern, std::string* why);

  // Lower-cases and drops one trailing dot.
  static std::string normalize(std::string_view name);

 private:
  // Exact names, keyed by the normalised name.
  std::unordered_map<std::string, TenantId> exact_;
  // Wildcards, keyed by the suffix after "*." ("*.acme.example" -> "acme.example").
  std::unordered_map<std::string, TenantId> wildcard_;
};

}  // namespace portcullis::routing
