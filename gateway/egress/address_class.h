// Classification of resolved destination addresses for the egress SSRF guard.
//
// What: classify() maps IPv4 / IPv6 text to the special-purpose range it falls in (IANA
// special-purpose registries, RFC 6890 and successors); refused_by_default() says which
// classes the egress listener refuses unless a destination explicitly allows them (everything
// but public_unicast). IPv6 forms that carry an IPv4 address are classified by that address:
// IPv4-mapped ::ffff:a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d, IPv4-compatible ::a.b.c.d,
// NAT64 64:ff9b::/96 and 6to4 2002::/16 (so "::ffff:127.0.0.1" is loopback, and
// "2002:a00:1::" is private_range). Text that is not a canonical address - including
// ambiguous IPv4 forms such as "010.0.0.1", "127.1" or "0x7f.0.0.1" that some resolvers read
// as octal/short forms - is `invalid` (and refused). Brackets ("[::1]") and an IPv6 zone
// suffix ("fe80::1%eth0") are accepted and ignored.
// Thread: stateless; safe from any thread.
// Ownership: none.
#pragma once

#include <string_view>

namespace portcullis::gateway::egress {

enum class AddressClass {
  public_unicast,  // globally routable unicast
  loopback,        // 127/8, ::1
  link_local,      // 169.254/16 (incl. 169.254.169.254 cloud metadata), fe80::/10
  private_range,   // 10/8, 172.16/12, 192.168/16, deprecated site-local fec0::/10
  unique_local,    // fc00::/7
  unspecified,     // 0.0.0.0/8, ::
  multicast,       // 224/4, ff00::/8
  broadcast,       // 255.255.255.255
  reserved,        // 240/4, 192.0.0/24, 198.18/15, documentation (192.0.2/24, 198.51.100/24,
                   // 203.0.113/24, 2001:db8::/32, 3fff::/20), 192.88.99/24, 100::/64,
                   // 2001::/23 (Teredo, ORCHID, benchmarking...), 64:ff9b:1::/48, and any IPv6
                   // outside 2000::/3 not named above
  cgnat,           // 100.64/10 shared address space
  invalid,         // not an IP address (or an ambiguous spelling of one)
};

// Classifies IPv4 dotted-quad or IPv6 text.
AddressClass classify(std::string_view ip_text) noexcept;

// True for every class except public_unicast.
bool refused_by_default(AddressClass c) noexcept;

// Stable snake_case name, used in logs, audit records and metrics labels.
std::string_view to_string(AddressClass c) noexcept;

}  // namespace portcullis::gateway::egress
