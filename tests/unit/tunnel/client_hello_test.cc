// Unit tests for tls/client_hello: real ClientHellos from OpenSSL (memory BIOs), split at every
// byte, reframed over several records, and synthetic hellos for the malformed cases.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "tls/client_hello.h"
#include "tls/ptr.h"

using portcullis::tls::HelloInfo;
using portcullis::tls::HelloParse;
using portcullis::tls::parse_client_hello;

namespace {

// The first flight of an OpenSSL client: one or more TLS records holding the ClientHello.
std::string openssl_hello(int max_version, const char* sni) {
  portcullis::tls::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  REQUIRE(ctx);
  REQUIRE(SSL_CTX_set_max_proto_version(ctx.get(), max_version) == 1);
  portcullis::tls::SslPtr ssl(SSL_new(ctx.get()));
  REQUIRE(ssl);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), rbio, wbio);  // the SSL owns both BIOs now
  SSL_set_connect_state(ssl.get());
  if (sni != nullptr) {
    REQUIRE(SSL_set_tlsext_host_name(ssl.get(), sni) == 1);
  }
  const int rc = SSL_do_handshake(ssl.get());
  REQUIRE(rc <= 0);
  REQUIRE(SSL_get_error(ssl.get(), rc) == SSL_ERROR_WANT_READ);
  char* data = nullptr;
  const long n = BIO_get_mem_data(wbio, &data);
  REQUIRE(n > 0);
  return std::string(data, static_cast<std::size_t>(n));
}

void put16(std::string& s, std::size_t v) {
  s.push_back(static_cast<char>((v >> 8) & 0xff));
  s.push_back(static_cast<char>(v & 0xff));
}

void put24(std::string& s, std::size_t v) {
  s.push_back(static_cast<char>((v >> 16) & 0xff));
  put16(s, v);
}

// The handshake message (header + body) from a single-record hello.
std::string handshake_of(const std::string& records) {
  REQUIRE(records.size() > 5);
  const std::size_t len = (std::size_t{static_cast<unsigned char>(records[3])} << 8) |
                          static_cast<unsigned char>(records[4]);
  REQUIRE(records.size() == 5 + len);
  return records.substr(5);
}

// Handshake bytes framed as records of at most `chunk` payload bytes.
std::string frame(const std::string& hs, std::size_t chunk, char minor = 0x01) {
  std::string out;
  for (std::size_t pos = 0; pos < hs.size(); pos += chunk) {
    const std::string part = hs.substr(pos, chunk);
    out.push_back(22);
    out.push_back(3);
    out.push_back(minor);
    put16(out, part.size());
    out += part;
  }
  return out;
}

std::string extension(std::size_t type, const std::string& body) {
  std::string e;
  put16(e, type);
  put16(e, body.size());
  return e + body;
}

// server_name extension body with the given host_name entries.
std::string server_names(const std::vector<std::string>& names) {
  std::string list;
  for (const auto& n : names) {
    list.push_back(0);
    put16(list, n.size());
    list += n;
  }
  std::string body;
  put16(body, list.size());
  return body + list;
}

// A minimal TLS 1.2-style ClientHello handshake message with the given extensions block
// (already serialized; `with_ext_block` false leaves the extensions out entirely).
std::string synthetic_hello(const std::string& exts, bool with_ext_block = true) {
  std::string body;
  put16(body, 0x0303);
  body += std::string(32, '\x42');  // random
  body.push_back(0);                // session id
  put16(body, 2);
  put16(body, 0x002f);              // TLS_RSA_WITH_AES_128_CBC_SHA
  body.push_back(1);
  body.push_back(0);                // null compression
  if (with_ext_block) {
    put16(body, exts.size());
    body += exts;
  }
  std::string hs;
  hs.push_back(1);
  put24(hs, body.size());
  return hs + body;
}

// Every strict prefix needs more; the whole answers like `expected`.
HelloInfo split_everywhere(const std::string& bytes) {
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const HelloInfo h = parse_client_hello(std::string_view(bytes).substr(0, n));
    INFO("prefix " << n << " of " << bytes.size());
    REQUIRE(h.result == HelloParse::need_more);
  }
  return parse_client_hello(bytes);
}

}  // namespace

TEST_CASE("a real TLS 1.3 ClientHello from OpenSSL") {
  const std::string hello = openssl_hello(TLS1_3_VERSION, "Api.Example.COM");
  const HelloInfo h = split_everywhere(hello);
  REQUIRE(h.result == HelloParse::ok);
  CHECK(h.sni == "api.example.com");
  CHECK(h.legacy_version == 0x0303);
  // Bytes after the hello (e.g. a compatibility ChangeCipherSpec) do not matter.
  const HelloInfo more = parse_client_hello(hello + std::string("\x14\x03\x03\x00\x01\x01", 6));
  CHECK(more.result == HelloParse::ok);
  CHECK(more.sni == "api.example.com");
}

TEST_CASE("a real TLS 1.2 ClientHello from OpenSSL") {
  const std::string hello = openssl_hello(TLS1_2_VERSION, "db.internal");
  const HelloInfo h = split_everywhere(hello);
  REQUIRE(h.result == HelloParse::ok);
  CHECK(h.sni == "db.internal");
  CHECK(h.legacy_version == 0x0303);
}

TEST_CASE("a ClientHello without server_name") {
  const HelloInfo h = parse_client_hello(openssl_hello(TLS1_3_VERSION, nullptr));
  REQUIRE(h.result == HelloParse::ok);
  CHECK(h.sni.empty());
  // And one with no extensions block at all (allowed before TLS 1.3).
  const HelloInfo bare = parse_client_hello(frame(synthetic_hello("", false), 16384));
  REQUIRE(bare.result == HelloParse::ok);
  CHECK(bare.sni.empty());
}

TEST_CASE("a ClientHello spread over several records") {
  const std::string hs = handshake_of(openssl_hello(TLS1_3_VERSION, "split.example"));
  for (std::size_t chunk : {1u, 2u, 3u, 4u, 5u, 7u, 64u, 100u}) {
    INFO("chunk " << chunk);
    const HelloInfo h = parse_client_hello(frame(hs, chunk));
    REQUIRE(h.result == HelloParse::ok);
    CHECK(h.sni == "split.example");
  }
  const HelloInfo every = split_everywhere(frame(hs, 37, 0x03));
  REQUIRE(every.result == HelloParse::ok);
  CHECK(every.sni == "split.example");
}

TEST_CASE("a large ClientHello (padding over 16 KiB) is reassembled; over 64 KiB is malformed") {
  const std::string sni = extension(0, server_names({"big.example"}));
  const std::string big = synthetic_hello(sni + extension(21, std::string(30000, '\0')));
  const HelloInfo h = parse_client_hello(frame(big, 16384));
  REQUIRE(h.result == HelloParse::ok);
  CHECK(h.sni == "big.example");
  // Partial: still waiting after the first record.
  CHECK(parse_client_hello(frame(big, 16384).substr(0, 16389)).result == HelloParse::need_more);

  // The extensions block is at most 65535 bytes; filled up, the message passes 64 KiB.
  const std::string fill = extension(21, std::string(65535 - sni.size() - 4, '\0'));
  std::string huge = synthetic_hello(sni + fill);
  REQUIRE(huge.size() > 64 * 1024);
  // Known from the handshake header alone, before the rest has arrived.
  CHECK(parse_client_hello(frame(huge, 16384).substr(0, 9)).result == HelloParse::malformed);
  CHECK(parse_client_hello(frame(huge, 16384)).result == HelloParse::malformed);
}

TEST_CASE("two host_names or a bad server_name are malformed") {
  const std::string two = extension(0, server_names({"a.example", "b.example"}));
  CHECK(parse_client_hello(frame(synthetic_hello(two), 16384)).result == HelloParse::malformed);
  const std::string empty = extension(0, server_names({""}));
  CHECK(parse_client_hello(frame(synthetic_hello(empty), 16384)).result == HelloParse::malformed);
  const std::string spacey = extension(0, server_names({"a b.example"}));
  CHECK(parse_client_hello(frame(synthetic_hello(spacey), 16384)).result ==
        HelloParse::malformed);
  const std::string one = extension(0, server_names({"One.Example"}));
  const HelloInfo ok = parse_client_hello(frame(synthetic_hello(one), 16384));
  REQUIRE(ok.result == HelloParse::ok);
  CHECK(ok.sni == "one.example");
  // Two server_name extensions (duplicate extension type).
  CHECK(parse_client_hello(frame(synthetic_hello(one + one), 16384)).result ==
        HelloParse::malformed);
}

TEST_CASE("non-TLS input is not_tls as early as possible") {
  CHECK(parse_client_hello("GET / HTTP/1.1\r\nHost: a\r\n\r\n").result == HelloParse::not_tls);
  CHECK(parse_client_hello("CONNECT a:1 HTTP/1.1\r\n").result == HelloParse::not_tls);
  CHECK(parse_client_hello("G").result == HelloParse::not_tls);
  CHECK(parse_client_hello(std::string("\x16\x04", 2)).result == HelloParse::not_tls);
  CHECK(parse_client_hello(std::string("\x16\x03\x00", 3)).result == HelloParse::not_tls);
  CHECK(parse_client_hello(std::string("\x16\x03\x05", 3)).result == HelloParse::not_tls);
  CHECK(parse_client_hello(std::string("\x17\x03\x03\x00\x10", 5)).result ==
        HelloParse::not_tls);
  // SSLv2-style hello (first byte 0x80) is not a TLS record.
  CHECK(parse_client_hello(std::string("\x80\x2e\x01\x03\x01", 5)).result ==
        HelloParse::not_tls);
  CHECK(parse_client_hello("").result == HelloParse::need_more);
  CHECK(parse_client_hello(std::string("\x16", 1)).result == HelloParse::need_more);
  CHECK(parse_client_hello(std::string("\x16\x03\x01\x00", 4)).result == HelloParse::need_more);
}

TEST_CASE("bad records and handshake headers are malformed") {
  // Record length over 16384, and zero.
  CHECK(parse_client_hello(std::string("\x16\x03\x01\x40\x01", 5)).result ==
        HelloParse::malformed);
  CHECK(parse_client_hello(std::string("\x16\x03\x01\x00\x00", 5)).result ==
        HelloParse::malformed);
  // Not a ClientHello (ServerHello = 2).
  CHECK(parse_client_hello(std::string("\x16\x03\x01\x00\x04\x02\x00\x00\x00", 9)).result ==
        HelloParse::malformed);
  // A 16384-byte record whose payload claims a longer hello just waits for more.
  std::string hdr("\x16\x03\x01\x40\x00\x01\x00\x80\x00", 9);
  CHECK(parse_client_hello(hdr).result == HelloParse::need_more);

  const std::string hs = handshake_of(openssl_hello(TLS1_3_VERSION, "x.example"));
  // Another record type in the middle of the hello.
  std::string mixed = frame(hs.substr(0, 50), 50) + std::string("\x15\x03\x03\x00\x02\x02\x28", 7);
  CHECK(parse_client_hello(mixed).result == HelloParse::malformed);
  // A bad version in the second record.
  std::string second = frame(hs.substr(0, 50), 50) + frame(hs.substr(50), 16384, 0x09);
  CHECK(parse_client_hello(second).result == HelloParse::malformed);
  // Bytes after the ClientHello inside the same record.
  CHECK(parse_client_hello(frame(hs + std::string(3, '\0'), 16384)).result ==
        HelloParse::malformed);
}

TEST_CASE("a ClientHello cut short anywhere is never ok with a name") {
  const std::string hs = handshake_of(openssl_hello(TLS1_3_VERSION, "cut.example"));
  const std::string body = hs.substr(4);
  for (std::size_t keep = 0; keep < body.size(); ++keep) {
    std::string cut;
    cut.push_back(1);
    put24(cut, keep);
    cut += body.substr(0, keep);
    const HelloInfo h = parse_client_hello(frame(cut, 16384));
    INFO("keep " << keep);
    // Only a cut right after compression_methods is a valid (extension-less) hello.
    if (h.result == HelloParse::ok) {
      CHECK(h.sni.empty());
    } else {
      CHECK(h.result == HelloParse::malformed);
    }
  }
}

TEST_CASE("garbage after a valid record header is malformed, not a crash") {
  std::uint32_t seed = 12345;
  int malformed = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string payload;
    const std::size_t len = 4 + (seed % 300);
    for (std::size_t j = 0; j < len; ++j) {
      seed = seed * 1103515245u + 12345u;
      payload.push_back(static_cast<char>(seed >> 16));
    }
    payload[0] = 1;  // ClientHello
    payload[1] = 0;
    payload[2] = 0;
    payload[3] = static_cast<char>(len - 4);
    const HelloInfo h = parse_client_hello(frame(payload, 16384));
    CHECK(h.result != HelloParse::need_more);
    CHECK(h.result != HelloParse::not_tls);
    malformed += h.result == HelloParse::malformed ? 1 : 0;
  }
  CHECK(malformed > 1900);
}
