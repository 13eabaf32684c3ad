// Fuzz target: routing::split_authority, parse_authority, parse_ip_literal, is_host_name.
// Checks: a parsed authority's host is normalised (lower case, no trailing dot, no brackets),
// an IPv6 literal only ever comes from brackets, a host name or IP literal prints back and
// re-parses to the same result, and every accepted host is also accepted by split_authority.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "routing/authority.h"
#include "tests/fuzz/fuzz_check.h"

namespace routing = portcullis::routing;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto split = routing::split_authority(in);
  const auto a = routing::parse_authority(in);
  if (a) {
    FUZZ_CHECK(split.has_value());
    FUZZ_CHECK(a->port == split->port);
    FUZZ_CHECK(!a->host.empty() && a->host.back() != '.');
    FUZZ_CHECK(a->host.find_first_of("[]@%/ ") == std::string::npos);
    FUZZ_CHECK(routing::normalize_host(a->host) == a->host);
    const auto ip = routing::parse_ip_literal(a->host);
    FUZZ_CHECK(a->ip_literal == ip.has_value());
    FUZZ_CHECK(split->bracketed == (ip && ip->v6));
    const std::string printed = (split->bracketed ? "[" + a->host + "]" : a->host) +
                                (a->port ? ":" + std::to_string(*a->port) : std::string());
    const auto again = routing::parse_authority(printed);
    FUZZ_CHECK(again && again->host == a->host && again->port == a->port);
  }
  if (routing::is_host_name(in)) {
    FUZZ_CHECK(in.size() <= 253 && in.back() != '.');
  }
  if (const auto ip = routing::parse_ip_literal(in); ip && !ip->v6) {
    FUZZ_CHECK(routing::is_host_name(in));
  }
  return 0;
}
