// DNS message codec for the egress resolver: one A or AAAA question out, one response in.
//
// What: build_query() encodes a standard recursive query (RD set, one question, class IN);
// parse_response() validates a response against the query we sent and extracts the A/AAAA
// addresses for the queried name, following a CNAME chain that starts at it. The parser is
// defensive: every read is bounds-checked, compression pointers must point strictly backwards
// (so they cannot loop) and are followed at most kMaxPointerJumps times per name, decoded names
// are limited to 255 wire octets, and CNAME chains are followed at most kMaxCnameHops times.
// Sans-I/O: no sockets, no libuv; pure functions over bytes (fuzzed by
// tests/fuzz/dns_message_fuzz.cc).
// Thread: stateless; safe from any thread.
// Ownership: results are owned values; nothing refers back into the input buffer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::gateway::egress {

inline constexpr std::uint16_t kQtypeA = 1;
inline constexpr std::uint16_t kQtypeAaaa = 28;
inline constexpr std::uint16_t kQtypeCname = 5;

inline constexpr std::uint16_t kRcodeNoError = 0;
inline constexpr std::uint16_t kRcodeServFail = 2;
inline constexpr std::uint16_t kRcodeNxDomain = 3;

// Upper bounds used by the parser; exposed for tests.
inline constexpr int kMaxPointerJumps = 32;
inline constexpr int kMaxCnameHops = 8;
inline constexpr std::size_t kMaxAddresses = 64;

// True if `name` is a host name we are willing to put in a query: LDH labels (letters, digits,
// hyphen, no leading or trailing hyphen) of 1..63 bytes, at most 253 bytes in total, one
// optional trailing dot.
bool valid_query_name(std::string_view name);

// A query for `name` (as given, case preserved, trailing dot dropped) of type `qtype`
// (kQtypeA or kQtypeAaaa), class IN, with RD set. Returns "" if the name is invalid or the
// type is neither A nor AAAA.
std::string build_query(std::uint16_t id, std::string_view name, std::uint16_t qtype);

struct DnsAnswer {
  // RCODE from the header (0 = NOERROR, 3 = NXDOMAIN, ...). When it is not NOERROR the answer
  // section is not examined and `addresses` is empty.
  std::uint16_t rcode = 0;
  // Text form: "192.0.2.1" for A, RFC 5952 form ("2001:db8::1") for AAAA. In message order,
  // duplicates removed, at most kMaxAddresses.
  std::vector<std::string> addresses;
  // The smallest TTL among the records used (the CNAME links and the addresses); 0 if no
  // address was found. TTLs with the top bit set count as 0 (RFC 2181 8).
  std::uint32_t min_ttl = 0;
};

// Validates `msg` as the response to build_query(expected_id, expected_name, qtype): QR set,
// same id, opcode QUERY, TC clear, exactly one question equal to (expected_name
// case-insensitively, qtype, IN). Collects the records of type `qtype` (class IN, well-formed
// rdata) whose owner is the queried name or a name reached from it by a CNAME chain in the
// answer section. Returns nullopt for anything malformed, mismatched or truncated (TC set:
// retry over TCP).
std::optional<DnsAnswer> parse_response(std::string_view msg, std::uint16_t expected_id,
                                        std::string_view expected_name, std::uint16_t qtype);

// Text forms used by parse_response (exposed for tests): dotted quad, and RFC 5952 IPv6
// (lower-case hex, longest run of two or more zero groups compressed, first run on a tie;
// ::ffff:a.b.c.d for IPv4-mapped addresses).
std::string format_ipv4(const unsigned char bytes[4]);
std::string format_ipv6(const unsigned char bytes[16]);

}  // namespace portcullis::gateway::egress
