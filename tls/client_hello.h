// ClientHello peek: a pure, sans-I/O parser for a client's first TLS record(s).
//
// The egress tunnel peeks at the bytes the client sends after CONNECT to learn the SNI it asks
// for, without terminating TLS. parse_client_hello() is given the buffer seen so far and answers
// need_more until the whole ClientHello handshake message (possibly spread over several
// handshake records, reassembled up to 64 KiB) is present. The server_name extension is parsed
// by tls::parse_server_name (tls/sni.h): exactly one host_name, lower-cased.
// Thread:  stateless free function; safe from any thread. Results own their strings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::tls {

enum class HelloParse { need_more, ok, not_tls, malformed };

struct HelloInfo {
  HelloParse result = HelloParse::need_more;
  std::string sni;  // lower case; empty if the hello has no server_name
  std::uint16_t legacy_version = 0;  // ClientHello.legacy_version (e.g. 0x0303)
};

inline constexpr std::size_t kMaxTlsRecord = 16384;
inline constexpr std::size_t kMaxClientHello = 64 * 1024;

// Parses the client's first bytes. Every length is checked against the buffer.
HelloInfo parse_client_hello(std::string_view bytes);

}  // namespace portcullis::tls
