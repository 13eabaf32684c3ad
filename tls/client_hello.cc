#include "tls/client_hello.h"

#include <bitset>
#include <memory>

#include "tls/sni.h"

namespace portcullis::tls {
namespace {

constexpr unsigned char kHandshake = 22;
constexpr unsigned char kClientHello = 1;
constexpr std::size_t kRecordHeader = 5;
constexpr std::size_t kHandshakeHeader = 4;
constexpr unsigned kServerNameExt = 0;

HelloInfo result(HelloParse r) {
  HelloInfo h;
  h.result = r;
  return h;
}

// Bounds-checked reader over one byte range; every read fails (returns false) past the end.
class Reader {
 public:
  Reader(const unsigned char* p, std::size_t n) : p_(p), n_(n) {}
  std::size_t left() const noexcept { return n_ - pos_; }
  const unsigned char* here() const noexcept { return p_ + pos_; }
  bool u8(std::size_t& v) noexcept {
    if (left() < 1) {
      return false;
    }
    v = p_[pos_++];
    return true;
  }
  bool u16(std::size_t& v) noexcept {
    if (left() < 2) {
      return false;
    }
    v = (std::size_t{p_[pos_]} << 8) | p_[pos_ + 1];
    pos_ += 2;
    return true;
  }
  bool skip(std::size_t n) noexcept {
    if (left() < n) {
      return false;
    }
    pos_ += n;
    return true;
  }

 private:
  const unsigned char* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
};

// Walks a complete ClientHello body (after the 4-byte handshake header).
HelloInfo parse_body(const unsigned char* body, std::size_t len) {
  Reader r(body, len);
  std::size_t major = 0;
  std::size_t minor = 0;
  if (!r.u8(major) || !r.u8(minor) || major != 3 || minor < 1 || minor > 4) {
    return result(HelloParse::malformed);
  }
  HelloInfo info;
  info.legacy_version = static_cast<std::uint16_t>((major << 8) | minor);
  std::size_t n = 0;
  if (!r.skip(32)) {  // random
    return result(HelloParse::malformed);
  }
  if (!r.u8(n) || n > 32 || !r.skip(n)) {  // legacy_session_id
    return result(HelloParse::malformed);
  }
  if (!r.u16(n) || n < 2 || n % 2 != 0 || !r.skip(n)) {  // cipher_suites
    return result(HelloParse::malformed);
  }
  if (!r.u8(n) || n < 1 || !r.skip(n)) {  // legacy_compression_methods
    return result(HelloParse::malformed);
  }
  if (r.left() == 0) {  // no extensions at all (TLS 1.0-1.2 allow this)
    info.result = HelloParse::ok;
    return info;
  }
  std::size_t ext_total = 0;
  if (!r.u16(ext_total) || ext_total != r.left()) {
    return result(HelloParse::malformed);
  }
  // RFC 8446 4.2: at most one extension of each type.
  auto seen = std::make_unique<std::bitset<65536>>();
  while (r.left() > 0) {
    std::size_t type = 0;
    std::size_t ext_len = 0;
    if (!r.u16(type) || !r.u16(ext_len) || ext_len > r.left()) {
      return result(HelloParse::malformed);
    }
    if (seen->test(type)) {
      return result(HelloParse::malformed);
    }
    seen->set(type);
    if (type == kServerNameExt) {
      std::string name;
      if (parse_server_name(r.here(), ext_len, name) != SniParse::ok) {
        return result(HelloParse::malformed);
      }
      info.sni = std::move(name);
    }
    r.skip(ext_len);
  }
  info.result = HelloParse::ok;
  return info;
}

}  // namespace

HelloInfo parse_client_hello(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t size = bytes.size();
  // Reassembled handshake bytes; `need` is known once the handshake header has arrived.
  std::string hs;
  std::size_t need = 0;
  std::size_t pos = 0;
  while (true) {
    // Record header, checked byte by byte so that non-TLS input is recognised early.
    const std::size_t avail = size - pos;
    if (avail >= 1 && p[pos] != kHandshake) {
      return result(pos == 0 ? HelloParse::not_tls : HelloParse::malformed);
    }
    if (avail >= 2 && p[pos + 1] != 3) {
      return result(pos == 0 ? HelloParse::not_tls : HelloParse::malformed);
    }
    if (avail >= 3 && (p[pos + 2] < 1 || p[pos + 2] > 4)) {
      return result(pos == 0 ? HelloParse::not_tls : HelloParse::malformed);
    }
    if (avail < kRecordHeader) {
      return result(HelloParse::need_more);
    }
    const std::size_t rec_len = (std::size_t{p[pos + 3]} << 8) | p[pos + 4];
    if (rec_len == 0 || rec_len > kMaxTlsRecord) {
      return result(HelloParse::malformed);
    }
    pos += kRecordHeader;
    // Take what has arrived of this record's payload.
    const std::size_t take = rec_len < size - pos ? rec_len : size - pos;
    if (hs.size() + take > kMaxClientHello + kHandshakeHeader) {
      return result(HelloParse::malformed);
    }
    hs.append(bytes.substr(pos, take));
    if (hs.size() >= 1 && static_cast<unsigned char>(hs[0]) != kClientHello) {
      return result(HelloParse::malformed);
    }
    if (need == 0 && hs.size() >= kHandshakeHeader) {
      const auto* h = reinterpret_cast<const unsigned char*>(hs.data());
      const std::size_t body = (std::size_t{h[1]} << 16) | (std::size_t{h[2]} << 8) | h[3];
      need = kHandshakeHeader + body;
      if (need > kMaxClientHello) {
        return result(HelloParse::malformed);
      }
    }
    if (need != 0 && hs.size() > need) {
      // The record carries bytes after the ClientHello: a client sends nothing else in it.
      return result(HelloParse::malformed);
    }
    if (take < rec_len) {
      return result(HelloParse::need_more);
    }
    pos += rec_len;
    if (need != 0 && hs.size() == need) {
      const auto* h = reinterpret_cast<const unsigned char*>(hs.data());
      return parse_body(h + kHandshakeHeader, need - kHandshakeHeader);
    }
    // The ClientHello continues in the next record.
  }
}

}  // namespace portcullis::tls
