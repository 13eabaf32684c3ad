// SPIFFE IDs: parsing and namespace checks.
//
// What: strict parsing of "spiffe://<trust-domain>/<path>" per the SPIFFE ID spec: scheme
// "spiffe" (lower-case), trust domain of [a-z0-9.-_] only (so no upper case, port or
// userinfo), a path of one or more non-empty segments of [A-Za-z0-9.-_], no "." or ".."
// segment, no query or fragment, whole ID at most 2048 bytes.
// Thread: pure functions.
// Ownership: SpiffeId owns its strings.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace portcullis::routing {

struct SpiffeId {
  std::string trust_domain;  // "mesh.example"
  std::string path;          // "/ns/acme/sa/api" (leading slash, no trailing slash)

  std::string to_string() const { return "spiffe://" + trust_domain + path; }
};

inline constexpr std::size_t kMaxSpiffeIdLength = 2048;

// A SPIFFE ID with a non-empty path (workload IDs), or nullopt.
std::optional<SpiffeId> parse_spiffe_id(std::string_view id);

// True iff id parses and is spiffe://<trust_domain>/ns/<ns>/... with at least one segment
// after <ns> ("spiffe://td/ns/acme/sa/api" is in namespace "acme"; "spiffe://td/ns/acme" is
// not).
bool in_namespace(std::string_view id, std::string_view trust_domain, std::string_view ns);

}  // namespace portcullis::routing
