// PROXY protocol (HAProxy proxy-protocol.txt, v1 text and v2 binary) header parser.
//
// What: sans-I/O parser for the header a load balancer puts in front of the client's bytes. The
// caller keeps appending received bytes to one buffer and calls parse() with the whole buffer
// each time; the result is need_more, done (addresses + how many bytes the header took; the
// rest of the buffer is payload, normally a TLS ClientHello) or error (a ProxyError).
// Errors are decided as early as possible: the first byte that cannot start either signature
// gives bad_signature at once (a client speaking TLS directly is refused on its first byte);
// v1 lines are checked field by field while they arrive; v2 fixed fields are checked as soon as
// each byte is there, before waiting for the address block.
// Limits: v1 line at most 107 bytes including CRLF; v2 header at most kProxyV2MaxHeader bytes;
// at most kProxyV2MaxTlvs TLVs (sub-TLVs of PP2_TYPE_SSL count too). parse() never reads past
// the header and allocates only the address strings and the authority (<= 255 bytes).
// Thread: a ProxyHeaderParser is immutable; parse() is const and safe from any thread.
// Ownership: ProxyResult owns copies of everything it reports; nothing points into the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::gateway::listen {

// v1: "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n" fits; the spec's maximum.
inline constexpr std::size_t kProxyV1MaxLine = 107;
// v2: 16 fixed bytes + address block + TLVs. The wire allows 16 + 65535; we refuse more than this.
inline constexpr std::size_t kProxyV2MaxHeader = 1024;
// v2: TLVs (including PP2_TYPE_SSL sub-TLVs) accepted in one header.
inline constexpr std::size_t kProxyV2MaxTlvs = 32;
// v2: longest PP2_TYPE_AUTHORITY value accepted (a DNS name).
inline constexpr std::size_t kProxyV2MaxAuthority = 255;

enum class ProxyError : std::uint8_t {
  none,
  bad_signature,        // neither "PROXY " nor the v2 signature
  v1_too_long,          // 107 bytes without CRLF
  v1_malformed,         // wrong protocol token, spacing, address, port or line ending
  v2_bad_version,       // version nibble is not 2
  v2_bad_command,       // command nibble is neither LOCAL nor PROXY
  v2_bad_family,        // not TCP over IPv4/IPv6 (UNSPEC only with LOCAL), or length too short
                        // for the family's address block
  v2_too_long,          // header longer than kProxyV2MaxHeader
  v2_bad_tlv,           // TLV does not fit, too many TLVs, bad AUTHORITY/CRC32C/SSL/UNIQUE_ID
  version_not_allowed,  // a well-formed signature of a version the listener does not accept
};
// snake_case token, as spelt in the enum ("bad_signature"), used in logs and metrics.
std::string_view to_string(ProxyError e) noexcept;

enum class ProxyVersions : std::uint8_t { v1, v2, any };

struct ProxyResult {
  enum class State : std::uint8_t { need_more, done, error } state = State::need_more;
  ProxyError error = ProxyError::none;
  std::uint8_t version = 0;  // 1 or 2 once done (0 otherwise)
  bool local = false;        // v2 LOCAL command or v1 "UNKNOWN": keep the socket's own address
  std::string source_ip;     // normalised text form (inet_ntop); empty when local
  std::uint16_t source_port = 0;
  std::string dest_ip;
  std::uint16_t dest_port = 0;
  std::size_t consumed = 0;  // bytes of the header; the rest of the input is payload (TLS)
  std::string authority;     // v2 PP2_TYPE_AUTHORITY TLV if present (SNI seen by the LB)
};

class ProxyHeaderParser {
 public:
  explicit ProxyHeaderParser(ProxyVersions allowed) : allowed_(allowed) {}

  // Feed the bytes received so far (the caller keeps appending; pass the whole buffer each time).
  // Only the first header's bytes are examined; whatever follows is left alone.
  ProxyResult parse(std::string_view received) const;

  ProxyVersions allowed() const noexcept { return allowed_; }

 private:
  ProxyVersions allowed_;
};

// CRC-32C (Castagnoli), as PP2_TYPE_CRC32C uses it. Exposed for tests.
std::uint32_t crc32c(std::string_view bytes) noexcept;

}  // namespace portcullis::gateway::listen
