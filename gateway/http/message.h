// Protocol-neutral HTTP message heads, shared by the HTTP/1.1 and HTTP/2 sessions and clients.
//
// Header names are lower case. Heads never carry framing or connection-specific fields
// (Content-Length/Transfer-Encoding live in content_length/has_body; Connection, Keep-Alive,
// Proxy-Connection, TE, Upgrade, Transfer-Encoding and Host are removed by the parser): each
// serializer writes its own framing, so what goes upstream is always cleanly framed.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::gateway::http {

struct Header {
  std::string name;   // lower case
  std::string value;
};

using Headers = std::vector<Header>;

struct RequestHead {
  std::string method;     // "GET"
  std::string scheme;     // "https" or "http"
  std::string authority;  // Host / :authority as sent (may be empty for HTTP/1.0 without Host)
  std::string path;       // origin-form path with query ("/a?b"); "*" for OPTIONS *
  Headers headers;
  std::optional<std::uint64_t> content_length;  // when the body length is known
  bool has_body = false;  // false: the request ended with its head
  // Trailer fields, set before the body's eof; sent when the upstream framing is chunked.
  Headers trailers;
  // "websocket" when the client asked for a WebSocket upgrade (HTTP/1.1 Upgrade). The body is
  // then the client's side of the byte stream after a 101, framed by nothing until the close.
  std::string upgrade;
  // "Expect: 100-continue" (removed from headers): the client waits for a 100 before its body.
  // The upstream side says when to send it (Exchange::continue_request): an HTTP/1.1 upstream's
  // own 100, or an HTTP/2 upstream's stream being opened.
  bool expect_continue = false;
};

struct ResponseHead {
  int status = 0;
  Headers headers;
  std::optional<std::uint64_t> content_length;
  bool has_body = true;  // false for 1xx/204/304 and responses to HEAD
  // Trailer fields from an HTTP/2 upstream (gRPC's grpc-status), set before the body's eof.
  Headers trailers;
};

// First value of `name` (lower case), or nullptr.
const std::string* find_header(const Headers& h, std::string_view name) noexcept;
// Removes every field named `name` (lower case).
void remove_header(Headers& h, std::string_view name);

// True for the fields that must never be forwarded across a hop (RFC 9110 7.6.1 plus the
// well-known extras): connection, keep-alive, proxy-connection, transfer-encoding, te, upgrade,
// proxy-authenticate, proxy-authorization, trailer.
bool is_hop_by_hop(std::string_view lower_name) noexcept;

// True for a field name with an underscore that, '_' read as '-', names a field the gateway sets
// or strips itself (x-forwarded-for/-proto/-host/-client-cert, x-request-id, content-length,
// transfer-encoding, keep-alive, proxy-connection, proxy-authorization, proxy-authenticate).
// CGI, WSGI and Rack upstreams read "X_Forwarded_For" as X-Forwarded-For, so a client could
// forge what the gateway vouches for: both engines drop these fields. Other names pass.
bool is_owned_field_alias(std::string_view lower_name) noexcept;

// True for a trailer field the gateway passes on: not hop-by-hop, framing, routing, forwarding
// (x-forwarded-*, forwarded, x-request-id) or an underscore alias of those.
bool forwardable_trailer(std::string_view lower_name) noexcept;

// The lower-cased, OWS-trimmed, non-empty tokens of a Connection field value ("close, Foo").
std::vector<std::string> connection_tokens(std::string_view list);

namespace detail {
// Byte classes, one table lookup per byte on the hot path (every head byte of every message
// passes a check): bit 0 token character, bit 1 not allowed in a field value.
inline constexpr std::array<unsigned char, 256> kCharClass = [] {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
                           std::string_view::npos;
    const bool bad_value = (c < 0x20 && c != '\t') || c == 0x7F;
    t[static_cast<std::size_t>(c)] =
        static_cast<unsigned char>((token ? 1 : 0) | (bad_value ? 2 : 0));
  }
  return t;
}();
}  // namespace detail

// RFC 9110 5.6.2 token character (method names, field names, transfer codings).
inline bool is_token_char(char c) noexcept {
  return (detail::kCharClass[static_cast<unsigned char>(c)] & 1) != 0;
}

// True for a non-empty string of token characters.
inline bool is_token(std::string_view s) noexcept {
  unsigned all = 1;
  for (char c : s) {
    all &= detail::kCharClass[static_cast<unsigned char>(c)];
  }
  return !s.empty() && (all & 1) != 0;
}

// Field value bytes: VCHAR, obs-text, SP and HTAB. No CR, LF, NUL or other controls.
bool valid_field_value(std::string_view v) noexcept;

// ASCII lower-casing.
std::string to_lower_ascii(std::string_view s);
void lower_ascii_in_place(std::string& s) noexcept;

// Case-insensitive ASCII equality.
bool iequals_ascii(std::string_view a, std::string_view b) noexcept;

}  // namespace portcullis::gateway::http
