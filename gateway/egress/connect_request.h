// CONNECT request head: a pure, sans-I/O parser for the egress tunnel's first bytes.
//
// The egress listener reads bytes from a client and hands the buffer seen so far to
// parse_connect(); it answers need_more until the head (ending in CRLFCRLF) is complete. Only
// the strict authority-form "CONNECT host:port HTTP/1.1" is accepted; a CONNECT has no body, so
// a non-zero Content-Length or any Transfer-Encoding is an error. Bytes after the head (the
// client's pipelined TLS bytes) are not consumed.
// Thread:  stateless free functions; safe from any thread. Results own their strings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::gateway::egress {

struct ConnectRequest {
  enum class State { need_more, ok, error } state = State::need_more;
  std::string host;  // lower case, IPv6 without brackets
  std::uint16_t port = 0;
  std::size_t consumed = 0;  // bytes of the request head incl. the final CRLFCRLF
  std::string error;         // human-readable reason when state == error
  int status = 400;          // 400, 405, 431 (meaningful when state == error)
};

inline constexpr std::size_t kMaxConnectHead = 64 * 1024;
inline constexpr std::size_t kMaxConnectFields = 100;

// True once the bytes start with "CONNECT " (needs at least 8 bytes; false for any other
// method prefix and for fewer than 8 bytes).
bool looks_like_connect(std::string_view first_bytes) noexcept;

// Parses the request head at the start of `bytes`. Never reads past the buffer.
ConnectRequest parse_connect(std::string_view bytes, std::size_t max_head = kMaxConnectHead);

}  // namespace portcullis::gateway::egress
