// Unit tests for gateway/listen/proxy_protocol: v1 and v2 PROXY headers, fed whole and byte by
// byte, every malformation we refuse, and the limits.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/snapshot/proxy_protocol.h"

namespace {

using portcullis::gateway::listen::crc32c;
using portcullis::gateway::listen::kProxyV1MaxLine;
using portcullis::gateway::listen::kProxyV2MaxHeader;
using portcullis::gateway::listen::kProxyV2MaxTlvs;
using portcullis::gateway::listen::ProxyError;
using portcullis::gateway::listen::ProxyHeaderParser;
using portcullis::gateway::listen::ProxyResult;
using portcullis::gateway::listen::ProxyVersions;
using State = ProxyResult::State;

const std::string kV2Sig("\r\n\r\n\0\r\nQUIT\n", 12);
// Start of a TLS 1.2/1.3 ClientHello record.
const std::string kClientHello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);

ProxyResult parse(std::string_view in, ProxyVersions v = ProxyVersions::any) {
  return ProxyHeaderParser(v).parse(in);
}

ProxyError error_of(std::string_view in, ProxyVersions v = ProxyVersions::any) {
  const ProxyResult r = parse(in, v);
  return r.state == State::error ? r.error : ProxyError::none;
}

// Feeds header + payload one byte at a time: need_more for every proper prefix of the header,
// then done with consumed == header size for every longer prefix (payload never looked at).
ProxyResult feed_bytewise(const std::string& header, const std::string& payload,
                          ProxyVersions v = ProxyVersions::any) {
  const std::string all = header + payload;
  const ProxyHeaderParser p(v);
  for (std::size_t n = 0; n < header.size(); ++n) {
    const ProxyResult r = p.parse(std::string_view(all).substr(0, n));
    INFO("prefix length " << n);
    REQUIRE(r.state == State::need_more);
    REQUIRE(r.consumed == 0);
  }
  ProxyResult last;
  for (std::size_t n = header.size(); n <= all.size(); ++n) {
    last = p.parse(std::string_view(all).substr(0, n));
    INFO("prefix length " << n);
    REQUIRE(last.state == State::done);
    REQUIRE(last.consumed == header.size());
  }
  REQUIRE(all.substr(last.consumed) == payload);
  return last;
}

// Every prefix of `in` is need_more until byte `at` (exclusive), and from at+1 bytes on it is
// the given error: the error is decided exactly when the offending byte arrives.
void require_error_at(const std::string& in, std::size_t at, ProxyError e,
                      ProxyVersions v = ProxyVersions::any) {
  const ProxyHeaderParser p(v);
  for (std::size_t n = 0; n <= in.size(); ++n) {
    const ProxyResult r = p.parse(std::string_view(in).substr(0, n));
    INFO("prefix length " << n << " of " << in.size());
    if (n <= at) {
      REQUIRE(r.state == State::need_more);
    } else {
      REQUIRE(r.state == State::error);
      REQUIRE(r.error == e);
    }
  }
}

// ---- v2 builders ----------------------------------------------------------------------------

void put16(std::string& s, std::size_t v) {
  s.push_back(static_cast<char>((v >> 8) & 0xFF));
  s.push_back(static_cast<char>(v & 0xFF));
}

std::string tlv(std::uint8_t type, std::string_view value) {
  std::string s(1, static_cast<char>(type));
  put16(s, value.size());
  s.append(value);
  return s;
}

// ver_cmd, fam, body (addresses + TLVs); length taken from body unless given.
std::string v2(std::uint8_t ver_cmd, std::uint8_t fam, const std::string& body,
               long length = -1) {
  std::string s = kV2Sig;
  s.push_back(static_cast<char>(ver_cmd));
  s.push_back(static_cast<char>(fam));
  put16(s, length < 0 ? body.size() : static_cast<std::size_t>(length));
  return s + body;
}

// 192.0.2.10:51000 -> 198.51.100.7:443
std::string addr4() {
  return std::string("\xc0\x00\x02\x0a\xc6\x33\x64\x07\xc7\x38\x01\xbb", 12);
}

// 2001:db8::1:51000 -> 2001:db8::2:443
std::string addr6() {
  std::string s("\x20\x01\x0d\xb8", 4);
  s.append(11, '\0');
  s.push_back('\x01');
  s.append("\x20\x01\x0d\xb8", 4);
  s.append(11, '\0');
  s.push_back('\x02');
  s.append("\xc7\x38\x01\xbb", 4);
  return s;
}

// Appends a CRC32C TLV over the finished header and returns it.
std::string with_crc(std::uint8_t ver_cmd, std::uint8_t fam, const std::string& body) {
  std::string h = v2(ver_cmd, fam, body + tlv(0x03, std::string(4, '\0')));
  const std::uint32_t c = crc32c(h);
  const std::size_t at = h.size() - 4;
  h[at] = static_cast<char>(c >> 24);
  h[at + 1] = static_cast<char>(c >> 16);
  h[at + 2] = static_cast<char>(c >> 8);
  h[at + 3] = static_cast<char>(c);
  return h;
}

}  // namespace

// ---- general --------------------------------------------------------------------------------

TEST_CASE("to_string gives the snake_case token of every error", "[proxy]") {
  CHECK(to_string(ProxyError::none) == "none");
  CHECK(to_string(ProxyError::bad_signature) == "bad_signature");
  CHECK(to_string(ProxyError::v1_too_long) == "v1_too_long");
  CHECK(to_string(ProxyError::v1_malformed) == "v1_malformed");
  CHECK(to_string(ProxyError::v2_bad_version) == "v2_bad_version");
  CHECK(to_string(ProxyError::v2_bad_command) == "v2_bad_command");
  CHECK(to_string(ProxyError::v2_bad_family) == "v2_bad_family");
  CHECK(to_string(ProxyError::v2_too_long) == "v2_too_long");
  CHECK(to_string(ProxyError::v2_bad_tlv) == "v2_bad_tlv");
  CHECK(to_string(ProxyError::version_not_allowed) == "version_not_allowed");
}

TEST_CASE("empty input needs more", "[proxy]") {
  const ProxyResult r = parse("");
  CHECK(r.state == State::need_more);
  CHECK(r.error == ProxyError::none);
}

TEST_CASE("a TLS ClientHello is refused on its first byte", "[proxy]") {
  for (ProxyVersions v : {ProxyVersions::v1, ProxyVersions::v2, ProxyVersions::any}) {
    CHECK(error_of(kClientHello.substr(0, 1), v) == ProxyError::bad_signature);
    CHECK(error_of(kClientHello, v) == ProxyError::bad_signature);
  }
  // Plain HTTP too.
  CHECK(error_of("G") == ProxyError::bad_signature);
  CHECK(error_of("GET / HTTP/1.1\r\n") == ProxyError::bad_signature);
}

TEST_CASE("bad signature is decided at the first diverging byte", "[proxy]") {
  require_error_at("PROXX TCP4", 4, ProxyError::bad_signature);
  require_error_at("PROXYTCP4", 5, ProxyError::bad_signature);
  require_error_at("proxy TCP4", 0, ProxyError::bad_signature);
  std::string v2bad = kV2Sig;
  v2bad[11] = 'X';  // last signature byte wrong
  require_error_at(v2bad, 11, ProxyError::bad_signature);
  std::string v2bad2 = kV2Sig;
  v2bad2[4] = '\x01';
  require_error_at(v2bad2, 4, ProxyError::bad_signature);
}

TEST_CASE("versions not allowed are refused once their signature is complete", "[proxy]") {
  const std::string line = "PROXY TCP4 192.0.2.1 198.51.100.2 1234 443\r\n";
  require_error_at(line, 5, ProxyError::version_not_allowed, ProxyVersions::v2);
  const std::string h = v2(0x21, 0x11, addr4());
  require_error_at(h, 11, ProxyError::version_not_allowed, ProxyVersions::v1);
  CHECK(parse(line, ProxyVersions::v1).state == State::done);
  CHECK(parse(h, ProxyVersions::v2).state == State::done);
  CHECK(parse(line, ProxyVersions::any).state == State::done);
  CHECK(parse(h, ProxyVersions::any).state == State::done);
}

// ---- v1 -------------------------------------------------------------------------------------

TEST_CASE("v1 TCP4", "[proxy][v1]") {
  const std::string line = "PROXY TCP4 192.0.2.10 198.51.100.7 51000 443\r\n";
  const ProxyResult r = feed_bytewise(line, kClientHello);
  CHECK(r.version == 1);
  CHECK_FALSE(r.local);
  CHECK(r.source_ip == "192.0.2.10");
  CHECK(r.source_port == 51000);
  CHECK(r.dest_ip == "198.51.100.7");
  CHECK(r.dest_port == 443);
  CHECK(r.authority.empty());
  CHECK(r.error == ProxyError::none);
}

TEST_CASE("v1 TCP6, addresses normalised", "[proxy][v1]") {
  const std::string line = "PROXY TCP6 2001:DB8:0:0::1 ::ffff:192.0.2.1 0 65535\r\n";
  const ProxyResult r = feed_bytewise(line, "payload");
  CHECK(r.source_ip == "2001:db8::1");
  CHECK(r.dest_ip == "::ffff:192.0.2.1");
  CHECK(r.source_port == 0);
  CHECK(r.dest_port == 65535);
  CHECK_FALSE(r.local);
}

TEST_CASE("v1 UNKNOWN keeps the socket's address", "[proxy][v1]") {
  const ProxyResult a = feed_bytewise("PROXY UNKNOWN\r\n", kClientHello);
  CHECK(a.local);
  CHECK(a.source_ip.empty());
  CHECK(a.version == 1);
  // The spec lets the sender put anything after UNKNOWN; it is ignored.
  const ProxyResult b = feed_bytewise("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", "x");
  CHECK(b.local);
  CHECK(b.source_port == 0);
}

TEST_CASE("v1 longest valid line and the 107-byte limit", "[proxy][v1]") {
  const std::string longest =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
      " 65535 65535\r\n";
  REQUIRE(longest.size() == 104);
  CHECK(parse(longest).state == State::done);

  // UNKNOWN padded to exactly 107 bytes (CRLF included) is accepted.
  std::string ok = "PROXY UNKNOWN ";
  ok.append(kProxyV1MaxLine - ok.size() - 2, 'a');
  ok += "\r\n";
  REQUIRE(ok.size() == 107);
  CHECK(feed_bytewise(ok, "z").consumed == 107);

  // One byte more: CR is byte 107, so CRLF cannot fit. Refused as soon as 107 bytes are there.
  std::string over = "PROXY UNKNOWN ";
  over.append(kProxyV1MaxLine - over.size() - 1, 'a');
  over += "\r\n";
  REQUIRE(over.size() == 108);
  require_error_at(over, 106, ProxyError::v1_too_long);

  // No CR at all: need_more up to 106 bytes, v1_too_long at 107.
  std::string none = "PROXY UNKNOWN ";
  none.append(200, 'b');
  require_error_at(none, 106, ProxyError::v1_too_long);
}

TEST_CASE("v1 malformations", "[proxy][v1]") {
  const char* bad[] = {
      "PROXY \r\n",
      "PROXY TCP4\r\n",
      "PROXY TCP4 \r\n",
      "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY UNKNOWNX\r\n",
      "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8\r\n",
      "PROXY TCP4 1.2.3.4\r\n",
      "PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n",
      // addresses
      "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
      "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
      "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
      "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
      "PROXY TCP6 ::1 1.2.3.4 1 2\r\n",
      "PROXY TCP6 ::1::2 ::1 1 2\r\n",
      "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
      "PROXY TCP6 [::1] ::1 1 2\r\n",
      "PROXY TCP4 localhost 5.6.7.8 1 2\r\n",
      // ports
      "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 0x10\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 123456\r\n",
      // line endings
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
      "PROXY UNKNOWN\n",
      "PROXY UNKNOWN\rX\r\n",
  };
  for (const char* line : bad) {
    INFO(line);
    CHECK(error_of(line) == ProxyError::v1_malformed);
  }
}

TEST_CASE("v1 malformations are refused while the line is still arriving", "[proxy][v1]") {
  // The offending byte decides; no need to wait for CRLF.
  require_error_at("PROXY TCP5", 9, ProxyError::v1_malformed);
  require_error_at("PROXY TCP4 1.2.3.4  ", 19, ProxyError::v1_malformed);
  require_error_at("PROXY TCP4 1.2.x", 15, ProxyError::v1_malformed);
  require_error_at("PROXY TCP4 1.2.3.4 5.6.7.8 01", 28, ProxyError::v1_malformed);
  require_error_at("PROXY TCP4 1.2.3.4 5.6.7.8 1 655350", 34, ProxyError::v1_malformed);
  require_error_at("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ", 30, ProxyError::v1_malformed);
  require_error_at("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 30, ProxyError::v1_malformed);
  // Binary junk after a correct signature.
  require_error_at(std::string("PROXY \x16\x03", 8), 6, ProxyError::v1_malformed);
  // Out-of-range port is decided once the fifth digit is in.
  require_error_at("PROXY TCP4 1.2.3.4 5.6.7.8 65536", 31, ProxyError::v1_malformed);
}

TEST_CASE("v1: a malformed line stays malformed past the length limit", "[proxy][v1]") {
  // Found by the fuzzer: the answer must not change from v1_malformed to v1_too_long.
  std::string line = "PROXY TCP3 ";
  line.append(150, 'x');
  require_error_at(line, 9, ProxyError::v1_malformed);
  std::string cr = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ";
  cr.append(kProxyV1MaxLine - cr.size() - 1, '9');
  cr += "\r\n";
  CHECK(error_of(cr) == ProxyError::v1_malformed);
  // Also found by the fuzzer: a CR at byte 107 is too long whatever byte follows it.
  std::string late = "PROXY UNKNOWN ";
  late.append(kProxyV1MaxLine - late.size() - 1, 'a');
  late += "\rX";
  require_error_at(late, 106, ProxyError::v1_too_long);
}

TEST_CASE("v1 does not look past CRLF", "[proxy][v1]") {
  // What follows the header is payload, even if it looks like another header or junk.
  const std::string line = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
  const std::string next = "PROXY garbage \x16\x03\n\r";
  const ProxyResult r = parse(line + next);
  REQUIRE(r.state == State::done);
  CHECK(r.consumed == line.size());
}

// ---- v2 -------------------------------------------------------------------------------------

TEST_CASE("v2 PROXY over IPv4", "[proxy][v2]") {
  const ProxyResult r = feed_bytewise(v2(0x21, 0x11, addr4()), kClientHello);
  CHECK(r.version == 2);
  CHECK_FALSE(r.local);
  CHECK(r.source_ip == "192.0.2.10");
  CHECK(r.source_port == 51000);
  CHECK(r.dest_ip == "198.51.100.7");
  CHECK(r.dest_port == 443);
  CHECK(r.consumed == 28);
}

TEST_CASE("v2 PROXY over IPv6", "[proxy][v2]") {
  const ProxyResult r = feed_bytewise(v2(0x21, 0x21, addr6()), kClientHello);
  CHECK(r.source_ip == "2001:db8::1");
  CHECK(r.dest_ip == "2001:db8::2");
  CHECK(r.source_port == 51000);
  CHECK(r.dest_port == 443);
  CHECK(r.consumed == 52);
}

TEST_CASE("v2 LOCAL keeps the socket's address and skips the block", "[proxy][v2]") {
  const ProxyResult a = feed_bytewise(v2(0x20, 0x00, ""), kClientHello);
  CHECK(a.local);
  CHECK(a.consumed == 16);
  CHECK(a.source_ip.empty());
  // LOCAL with an address family and bytes: discarded as a whole (spec).
  const ProxyResult b = feed_bytewise(v2(0x20, 0x11, addr4() + "\xff\xff"), "x");
  CHECK(b.local);
  CHECK(b.consumed == 30);
  CHECK(b.source_ip.empty());
  // LOCAL with fewer address bytes than the family needs is still fine: nothing is read.
  CHECK(parse(v2(0x20, 0x21, "abc")).state == State::done);
}

TEST_CASE("v2 TLVs: authority extracted, others skipped", "[proxy][v2]") {
  const std::string body = addr4() + tlv(0x01, "h2") + tlv(0x04, std::string(3, '\0')) +
                           tlv(0x02, "shop.acme.example") + tlv(0x05, "id-123") +
                           tlv(0xEA, std::string("\x01vpce-0123", 10)) +
                           tlv(0x20, std::string("\x07\0\0\0\0", 5) + tlv(0x21, "TLSv1.3"));
  const ProxyResult r = feed_bytewise(v2(0x21, 0x11, body), kClientHello);
  CHECK(r.authority == "shop.acme.example");
  CHECK(r.source_ip == "192.0.2.10");
  CHECK(r.consumed == 16 + body.size());
}

TEST_CASE("v2 CRC32C TLV is verified", "[proxy][v2]") {
  CHECK(crc32c("123456789") == 0xE3069283u);  // the standard check value
  const std::string good = with_crc(0x21, 0x11, addr4() + tlv(0x02, "a.example"));
  const ProxyResult r = parse(good);
  REQUIRE(r.state == State::done);
  CHECK(r.authority == "a.example");
  std::string flipped = good;
  flipped[17] ^= 1;  // change one address byte: the checksum no longer matches
  CHECK(error_of(flipped) == ProxyError::v2_bad_tlv);
  std::string bad_crc = good;
  bad_crc.back() ^= 0x80;
  CHECK(error_of(bad_crc) == ProxyError::v2_bad_tlv);
  CHECK(error_of(v2(0x21, 0x11, addr4() + tlv(0x03, "abc"))) == ProxyError::v2_bad_tlv);
}

TEST_CASE("v2 bad TLVs", "[proxy][v2]") {
  const auto bad = [](const std::string& tlvs) {
    return error_of(v2(0x21, 0x11, addr4() + tlvs));
  };
  // Truncated: one or two bytes of a TLV header; value longer than what is left.
  CHECK(bad(std::string(1, '\x02')) == ProxyError::v2_bad_tlv);
  CHECK(bad(std::string("\x02\x00", 2)) == ProxyError::v2_bad_tlv);
  CHECK(bad(std::string("\x02\x00\x05" "abcd", 7)) == ProxyError::v2_bad_tlv);
  CHECK(bad(tlv(0x04, "") + std::string("\x01\xff\xff", 3)) == ProxyError::v2_bad_tlv);
  // Authority: empty, too long, control bytes, spaces, twice.
  CHECK(bad(tlv(0x02, "")) == ProxyError::v2_bad_tlv);
  CHECK(bad(tlv(0x02, std::string(256, 'a'))) == ProxyError::v2_bad_tlv);
  CHECK(bad(tlv(0x02, std::string("a\0b", 3))) == ProxyError::v2_bad_tlv);
  CHECK(bad(tlv(0x02, "a b")) == ProxyError::v2_bad_tlv);
  CHECK(bad(tlv(0x02, "a.example") + tlv(0x02, "b.example")) == ProxyError::v2_bad_tlv);
  // UNIQUE_ID over 128 bytes; SSL shorter than its fixed part or with a truncated sub-TLV.
  CHECK(bad(tlv(0x05, std::string(129, 'u'))) == ProxyError::v2_bad_tlv);
  CHECK(bad(tlv(0x20, "abcd")) == ProxyError::v2_bad_tlv);
  CHECK(bad(tlv(0x20, std::string("\x01\0\0\0\0\x21\x00\x09TLS", 11))) == ProxyError::v2_bad_tlv);
  // The longest legal authority is fine.
  CHECK(parse(v2(0x21, 0x11, addr4() + tlv(0x02, std::string(255, 'a')))).authority.size() ==
        255);
}

TEST_CASE("v2 TLV count is bounded", "[proxy][v2]") {
  std::string ok;
  for (std::size_t i = 0; i < kProxyV2MaxTlvs; ++i) {
    ok += tlv(0x04, "");
  }
  CHECK(parse(v2(0x21, 0x11, addr4() + ok)).state == State::done);
  CHECK(error_of(v2(0x21, 0x11, addr4() + ok + tlv(0x04, ""))) == ProxyError::v2_bad_tlv);
  // SSL sub-TLVs count too.
  std::string sub(std::string("\x01\0\0\0\0", 5));
  for (std::size_t i = 0; i < kProxyV2MaxTlvs; ++i) {
    sub += tlv(0x21, "x");
  }
  CHECK(error_of(v2(0x21, 0x11, addr4() + tlv(0x20, sub))) == ProxyError::v2_bad_tlv);
}

TEST_CASE("v2 fixed fields are checked as soon as their byte arrives", "[proxy][v2]") {
  require_error_at(v2(0x11, 0x11, addr4()), 12, ProxyError::v2_bad_version);
  require_error_at(v2(0x31, 0x11, addr4()), 12, ProxyError::v2_bad_version);
  require_error_at(v2(0x22, 0x11, addr4()), 12, ProxyError::v2_bad_command);
  require_error_at(v2(0x2F, 0x11, addr4()), 12, ProxyError::v2_bad_command);
  // UNIX stream/dgram, UDP, unknown families, UNSPEC with PROXY.
  for (std::uint8_t fam : {0x31, 0x32, 0x12, 0x22, 0x10, 0x20, 0x01, 0x41, 0xFF, 0x00}) {
    INFO("family " << int(fam));
    require_error_at(v2(0x21, fam, std::string(216, '\0')), 13, ProxyError::v2_bad_family);
  }
  // UNIX under LOCAL is refused as well.
  require_error_at(v2(0x20, 0x31, std::string(216, '\0')), 13, ProxyError::v2_bad_family);
}

TEST_CASE("v2 length: oversized refused before the body, short address block refused",
          "[proxy][v2]") {
  // Declared length over the cap: refused once the 16 fixed bytes are in.
  const std::string huge = v2(0x21, 0x11, addr4(), 0xFFFF);
  require_error_at(huge, 15, ProxyError::v2_too_long);
  const std::size_t max_len = kProxyV2MaxHeader - 16;
  CHECK(error_of(v2(0x21, 0x11, addr4(), static_cast<long>(max_len + 1))) ==
        ProxyError::v2_too_long);
  // Exactly at the cap: accepted (padding with a NOOP TLV).
  const std::string pad = tlv(0x04, std::string(max_len - 12 - 3, '\0'));
  const ProxyResult r = parse(v2(0x21, 0x11, addr4() + pad) + "tail");
  REQUIRE(r.state == State::done);
  CHECK(r.consumed == kProxyV2MaxHeader);
  // Length too short for the family's addresses.
  CHECK(error_of(v2(0x21, 0x11, addr4().substr(0, 11))) == ProxyError::v2_bad_family);
  CHECK(error_of(v2(0x21, 0x21, addr4())) == ProxyError::v2_bad_family);
}

TEST_CASE("v2 truncated header needs more, never reads past the buffer", "[proxy][v2]") {
  const std::string h = v2(0x21, 0x21, addr6() + tlv(0x02, "x.example"));
  for (std::size_t n = 0; n < h.size(); ++n) {
    // A fresh copy of exactly n bytes, so ASan would see any read past it.
    const std::vector<char> copy(h.begin(), h.begin() + static_cast<long>(n));
    const ProxyResult r = parse(std::string_view(copy.data(), copy.size()));
    INFO("prefix " << n);
    CHECK(r.state == State::need_more);
  }
}
