// PROXY protocol v1/v2 parser; see proxy_protocol.h.
#include "gateway/snapshot/proxy_protocol.h"

#include "routing/authority.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstring>

namespace portcullis::gateway::listen {

namespace {

constexpr std::string_view kV1Sig = "PROXY ";
constexpr std::string_view kV2Sig{"\r\n\r\n\0\r\nQUIT\n", 12};
constexpr std::size_t kV2Fixed = 16;  // signature + ver/cmd + family + length

constexpr std::uint8_t kCmdLocal = 0x0;
constexpr std::uint8_t kCmdProxy = 0x1;
constexpr std::uint8_t kFamUnspec = 0x00;
constexpr std::uint8_t kFamTcp4 = 0x11;
constexpr std::uint8_t kFamTcp6 = 0x21;
constexpr std::size_t kAddrLen4 = 12;  // src + dst address (4 + 4), src + dst port (2 + 2)
constexpr std::size_t kAddrLen6 = 36;  // 16 + 16 + 2 + 2

constexpr std::uint8_t kTlvAlpn = 0x01;
constexpr std::uint8_t kTlvAuthority = 0x02;
constexpr std::uint8_t kTlvCrc32c = 0x03;
constexpr std::uint8_t kTlvNoop = 0x04;
constexpr std::uint8_t kTlvUniqueId = 0x05;
constexpr std::uint8_t kTlvSsl = 0x20;
constexpr std::size_t kMaxUniqueId = 128;
constexpr std::size_t kSslFixed = 5;  // client (1) + verify (4) before the sub-TLVs

// Longest text form of each family we accept in v1 (INET6_ADDRSTRLEN - 1 covers the
// "::ffff:255.255.255.255" style).
constexpr std::size_t kMaxText4 = 15;
constexpr std::size_t kMaxText6 = INET6_ADDRSTRLEN - 1;

ProxyResult fail(ProxyError e) {
  ProxyResult r;
  r.state = ProxyResult::State::error;
  r.error = e;
  return r;
}

ProxyResult need_more() { return ProxyResult{}; }

std::uint8_t byte_at(std::string_view s, std::size_t i) noexcept {
  return static_cast<std::uint8_t>(s[i]);
}

std::uint16_t be16(std::string_view s, std::size_t i) noexcept {
  return static_cast<std::uint16_t>((byte_at(s, i) << 8) | byte_at(s, i + 1));
}

// True if the first min(|s|, |sig|) bytes of s equal the start of sig.
bool prefix_matches(std::string_view s, std::string_view sig) noexcept {
  const std::size_t n = s.size() < sig.size() ? s.size() : sig.size();
  return s.substr(0, n) == sig.substr(0, n);
}

bool allows_v1(ProxyVersions v) noexcept { return v != ProxyVersions::v2; }
bool allows_v2(ProxyVersions v) noexcept { return v != ProxyVersions::v1; }

// ---- v1 -------------------------------------------------------------------------------------

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Port: 1..5 decimal digits, no sign, no leading zero ("0" alone is fine), value <= 65535.
// With complete == false, s may be the start of a port still arriving.
bool port_ok(std::string_view s, bool complete, std::uint16_t* out) noexcept {
  if (s.empty()) {
    return !complete;
  }
  if (s.size() > 5) {
    return false;
  }
  std::uint32_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) {
      return false;
    }
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (s.size() > 1 && s[0] == '0') {
    return false;
  }
  if (v > 65535) {
    return false;
  }
  if (out != nullptr) {
    *out = static_cast<std::uint16_t>(v);
  }
  return true;
}

// Address text of the given family. complete == false: only the characters and the length of
// what arrived so far are checked. complete == true: routing::parse_ip_literal must accept it
// as that family; the normalised form goes to *out.
bool addr_ok(std::string_view s, int family, bool complete, std::string* out) {
  const std::size_t max = family == AF_INET ? kMaxText4 : kMaxText6;
  if (s.size() > max) {
    return false;
  }
  for (char c : s) {
    const bool ok = family == AF_INET ? (is_digit(c) || c == '.')
                                      : (is_hex(c) || c == ':' || c == '.');
    if (!ok) {
      return false;
    }
  }
  if (!complete) {
    return true;
  }
  if (s.empty()) {
    return false;
  }
  const auto ip = routing::parse_ip_literal(s);
  if (!ip || ip->v6 != (family == AF_INET6)) {
    return false;
  }
  std::array<char, INET6_ADDRSTRLEN> norm{};
  if (inet_ntop(family, ip->bytes.data(), norm.data(), norm.size()) == nullptr) {
    return false;
  }
  if (out != nullptr) {
    out->assign(norm.data());
  }
  return true;
}

// body: the line after "PROXY " and before CRLF (complete), or everything after "PROXY " that
// arrived so far, without any CR or LF (incomplete).
ProxyResult parse_v1_body(std::string_view body, bool complete, std::size_t line_len) {
  const std::size_t sp = body.find(' ');
  const std::string_view proto = body.substr(0, sp);
  if (sp == std::string_view::npos && !complete) {
    // Still receiving the protocol token.
    for (std::string_view t : {std::string_view("TCP4"), std::string_view("TCP6"),
                               std::string_view("UNKNOWN")}) {
      if (t.substr(0, proto.size()) == proto) {
        return need_more();
      }
    }
    return fail(ProxyError::v1_malformed);
  }
  if (proto == "UNKNOWN") {
    // The spec lets a sender put anything (no CR/LF) after UNKNOWN; the receiver ignores it.
    if (!complete) {
      return need_more();
    }
    ProxyResult r;
    r.state = ProxyResult::State::done;
    r.version = 1;
    r.local = true;
    r.consumed = line_len;
    return r;
  }
  int family = 0;
  if (proto == "TCP4") {
    family = AF_INET;
  } else if (proto == "TCP6") {
    family = AF_INET6;
  } else {
    return fail(ProxyError::v1_malformed);
  }
  if (sp == std::string_view::npos) {
    return fail(ProxyError::v1_malformed);  // complete line "TCP4" with nothing after it
  }

  // Exactly four fields, separated by single spaces: src dst sport dport.
  std::array<std::string_view, 4> field{};
  std::size_t count = 0;
  std::string_view rest = body.substr(sp + 1);
  while (true) {
    if (count == field.size()) {
      return fail(ProxyError::v1_malformed);  // a fifth field (or a trailing space)
    }
    const std::size_t next = rest.find(' ');
    field[count++] = rest.substr(0, next);
    if (next == std::string_view::npos) {
      break;
    }
    if (next == 0) {
      return fail(ProxyError::v1_malformed);  // empty field: double or leading space
    }
    rest = rest.substr(next + 1);
  }
  if (complete && count != field.size()) {
    return fail(ProxyError::v1_malformed);
  }
  ProxyResult r;
  for (std::size_t i = 0; i < count; ++i) {
    // Every field but the last one seen is followed by a space, hence complete.
    const bool whole = complete || i + 1 < count;
    bool ok = false;
    switch (i) {
      case 0: ok = addr_ok(field[i], family, whole, &r.source_ip); break;
      case 1: ok = addr_ok(field[i], family, whole, &r.dest_ip); break;
      case 2: ok = port_ok(field[i], whole, &r.source_port); break;
      default: ok = port_ok(field[i], whole, &r.dest_port); break;
    }
    if (!ok) {
      return fail(ProxyError::v1_malformed);
    }
  }
  if (!complete) {
    return need_more();
  }
  r.state = ProxyResult::State::done;
  r.version = 1;
  r.consumed = line_len;
  return r;
}

// in starts with "PROXY ". What arrived of the line is checked before the length limit, so a
// line that is already malformed stays v1_malformed however many more bytes come.
ProxyResult parse_v1(std::string_view in) {
  const std::size_t window = in.size() < kProxyV1MaxLine ? in.size() : kProxyV1MaxLine;
  const std::size_t p = in.substr(0, window).find_first_of("\r\n");
  if (p != std::string_view::npos && in[p] == '\n') {
    return fail(ProxyError::v1_malformed);  // bare LF
  }
  const std::size_t body_end = p == std::string_view::npos ? window : p;
  const std::string_view body = in.substr(kV1Sig.size(), body_end - kV1Sig.size());
  // A CR at byte 107 cannot start a CRLF that fits: too long, whatever follows it.
  const bool cr_fits = p != std::string_view::npos && p + 2 <= kProxyV1MaxLine;
  if (cr_fits && p + 1 < in.size()) {
    if (in[p + 1] != '\n') {
      return fail(ProxyError::v1_malformed);  // bare CR
    }
    return parse_v1_body(body, true, p + 2);
  }
  // No complete line (yet): check what arrived, then the limit.
  ProxyResult r = parse_v1_body(body, false, 0);
  if (r.state == ProxyResult::State::error) {
    return r;
  }
  // Too long: 107 bytes without CR, or a CR at byte 107 (its LF would be byte 108).
  if ((p == std::string_view::npos && in.size() >= kProxyV1MaxLine) ||
      (p != std::string_view::npos && p + 2 > kProxyV1MaxLine)) {
    return fail(ProxyError::v1_too_long);
  }
  return r;
}

// ---- v2 -------------------------------------------------------------------------------------

// One byte of CRC-32C (reflected polynomial 0x82F63B78), bitwise: headers are <= 1 KiB.
std::uint32_t crc32c_step(std::uint32_t crc, std::uint8_t b) noexcept {
  crc ^= b;
  for (int k = 0; k < 8; ++k) {
    crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return crc;
}

// header: the whole v2 header (16 + len bytes). Checks the CRC32C TLV whose value starts at
// value_at: CRC32C over the header with those four bytes taken as zero.
bool crc_ok(std::string_view header, std::size_t value_at) noexcept {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < header.size(); ++i) {
    crc = crc32c_step(crc, (i >= value_at && i < value_at + 4) ? 0 : byte_at(header, i));
  }
  crc = ~crc;
  const std::uint32_t want = (static_cast<std::uint32_t>(byte_at(header, value_at)) << 24) |
                             (static_cast<std::uint32_t>(byte_at(header, value_at + 1)) << 16) |
                             (static_cast<std::uint32_t>(byte_at(header, value_at + 2)) << 8) |
                             static_cast<std::uint32_t>(byte_at(header, value_at + 3));
  return crc == want;
}

bool authority_ok(std::string_view v) noexcept {
  if (v.empty() || v.size() > kProxyV2MaxAuthority) {
    return false;
  }
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return false;
    }
  }
  return true;
}

// Sub-TLVs of PP2_TYPE_SSL: each must fit; they count towards *count.
bool ssl_ok(std::string_view v, std::size_t* count) noexcept {
  if (v.size() < kSslFixed) {
    return false;
  }
  std::size_t at = kSslFixed;
  while (at < v.size()) {
    if (v.size() - at < 3) {
      return false;
    }
    const std::size_t len = be16(v, at + 1);
    if (v.size() - at - 3 < len) {
      return false;
    }
    if (++*count > kProxyV2MaxTlvs) {
      return false;
    }
    at += 3 + len;
  }
  return true;
}

// header: the whole header; TLVs run from `at` to its end.
bool parse_tlvs(std::string_view header, std::size_t at, ProxyResult* r) {
  std::size_t count = 0;
  bool seen_authority = false;
  bool seen_crc = false;
  while (at < header.size()) {
    if (header.size() - at < 3) {
      return false;
    }
    const std::uint8_t type = byte_at(header, at);
    const std::size_t len = be16(header, at + 1);
    const std::size_t value_at = at + 3;
    if (header.size() - value_at < len) {
      return false;
    }
    if (++count > kProxyV2MaxTlvs) {
      return false;
    }
    const std::string_view value = header.substr(value_at, len);
    switch (type) {
      case kTlvAuthority:
        if (seen_authority || !authority_ok(value)) {
          return false;
        }
        seen_authority = true;
        r->authority.assign(value);
        break;
      case kTlvCrc32c:
        if (seen_crc || len != 4 || !crc_ok(header, value_at)) {
          return false;
        }
        seen_crc = true;
        break;
      case kTlvUniqueId:
        if (len > kMaxUniqueId) {
          return false;
        }
        break;
      case kTlvSsl:
        if (!ssl_ok(value, &count)) {
          return false;
        }
        break;
      case kTlvAlpn:
      case kTlvNoop:
      default:
        break;  // known-but-unused and custom (0xE0..0xEF, e.g. AWS VPC endpoint id) TLVs
    }
    at = value_at + len;
  }
  return true;
}

// in starts with the 12-byte v2 signature.
ProxyResult parse_v2(std::string_view in) {
  if (in.size() <= 12) {
    return need_more();
  }
  const std::uint8_t ver_cmd = byte_at(in, 12);
  if ((ver_cmd >> 4) != 0x2) {
    return fail(ProxyError::v2_bad_version);
  }
  const std::uint8_t cmd = ver_cmd & 0x0F;
  if (cmd != kCmdLocal && cmd != kCmdProxy) {
    return fail(ProxyError::v2_bad_command);
  }
  if (in.size() <= 13) {
    return need_more();
  }
  const std::uint8_t fam = byte_at(in, 13);
  std::size_t addr_len = 0;
  if (fam == kFamTcp4) {
    addr_len = kAddrLen4;
  } else if (fam == kFamTcp6) {
    addr_len = kAddrLen6;
  } else if (!(fam == kFamUnspec && cmd == kCmdLocal)) {
    return fail(ProxyError::v2_bad_family);
  }
  if (in.size() < kV2Fixed) {
    return need_more();
  }
  const std::size_t len = be16(in, 14);
  if (kV2Fixed + len > kProxyV2MaxHeader) {
    return fail(ProxyError::v2_too_long);
  }
  if (cmd == kCmdProxy && len < addr_len) {
    return fail(ProxyError::v2_bad_family);  // address block shorter than the family needs
  }
  const std::size_t total = kV2Fixed + len;
  if (in.size() < total) {
    return need_more();
  }
  ProxyResult r;
  r.version = 2;
  r.consumed = total;
  if (cmd == kCmdLocal) {
    // The spec: use the real connection endpoints and discard the whole block, family included.
    r.state = ProxyResult::State::done;
    r.local = true;
    return r;
  }
  const std::string_view header = in.substr(0, total);
  const int family = fam == kFamTcp4 ? AF_INET : AF_INET6;
  const std::size_t alen = fam == kFamTcp4 ? 4 : 16;
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (inet_ntop(family, header.data() + kV2Fixed, text.data(), text.size()) == nullptr) {
    return fail(ProxyError::v2_bad_family);
  }
  r.source_ip.assign(text.data());
  if (inet_ntop(family, header.data() + kV2Fixed + alen, text.data(), text.size()) == nullptr) {
    return fail(ProxyError::v2_bad_family);
  }
  r.dest_ip.assign(text.data());
  r.source_port = be16(header, kV2Fixed + 2 * alen);
  r.dest_port = be16(header, kV2Fixed + 2 * alen + 2);
  if (!parse_tlvs(header, kV2Fixed + addr_len, &r)) {
    return fail(ProxyError::v2_bad_tlv);
  }
  r.state = ProxyResult::State::done;
  return r;
}

}  // namespace

std::string_view to_string(ProxyError e) noexcept {
  switch (e) {
    case ProxyError::none: return "none";
    case ProxyError::bad_signature: return "bad_signature";
    case ProxyError::v1_too_long: return "v1_too_long";
    case ProxyError::v1_malformed: return "v1_malformed";
    case ProxyError::v2_bad_version: return "v2_bad_version";
    case ProxyError::v2_bad_command: return "v2_bad_command";
    case ProxyError::v2_bad_family: return "v2_bad_family";
    case ProxyError::v2_too_long: return "v2_too_long";
    case ProxyError::v2_bad_tlv: return "v2_bad_tlv";
    case ProxyError::version_not_allowed: return "version_not_allowed";
  }
  return "unknown";
}

std::uint32_t crc32c(std::string_view bytes) noexcept {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (char c : bytes) {
    crc = crc32c_step(crc, static_cast<std::uint8_t>(c));
  }
  return ~crc;
}

ProxyResult ProxyHeaderParser::parse(std::string_view received) const {
  if (received.empty()) {
    return need_more();
  }
  // The two signatures differ in their first byte, so at most one of these holds.
  if (prefix_matches(received, kV1Sig)) {
    if (received.size() < kV1Sig.size()) {
      return need_more();
    }
    if (!allows_v1(allowed_)) {
      return fail(ProxyError::version_not_allowed);
    }
    return parse_v1(received);
  }
  if (prefix_matches(received, kV2Sig)) {
    if (received.size() < kV2Sig.size()) {
      return need_more();
    }
    if (!allows_v2(allowed_)) {
      return fail(ProxyError::version_not_allowed);
    }
    return parse_v2(received);
  }
  return fail(ProxyError::bad_signature);
}

}  // namespace portcullis::gateway::listen
