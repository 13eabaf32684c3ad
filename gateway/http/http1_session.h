// Http1Session helpers shared with the HTTP/1.1 upstream client (private to gateway/http and
// gateway/upstream). The session itself is created with make_http1_session() (session.h).
//
// Thread:   pure functions.
#pragma once

#include <string>
#include <string_view>

#include "gateway/http/message.h"

namespace portcullis::gateway::http {

// "OK", "Not Found", ... ("Unknown" for codes we do not name).
std::string_view status_reason_phrase(int status) noexcept;

// Appends body bytes to an HTTP/1.1 message: as they are, or as one chunk of a chunked body.
void append_body_piece(std::string& out, std::string_view bytes, bool chunked);
// The last chunk (no trailers) that ends a chunked body.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// How a response head frames its body towards an HTTP/1.x client: inputs, then outputs.
struct ResponseFraming {
  bool head_request = false;     // in: the request was HEAD
  bool http10 = false;           // in: the client spoke HTTP/1.0
  bool close = false;            // in: end the connection after it; out: also when close-delimited
  bool body_allowed = false;     // out: body bytes follow the head
  bool chunked = false;          // out: the body goes chunked (length unknown, HTTP/1.1)
  bool close_delimited = false;  // out: the body ends with the connection (HTTP/1.0)
  std::string_view upgrade;      // in: the upgrade the request asked for ("websocket")
};

// Serializes the status line, the fields (hop-by-hop and Content-Length dropped) and the
// framing/Connection fields of `r`.
void write_response_head(std::string& out, const ResponseHead& r, ResponseFraming& f);

// A gateway error reply that ends the connection: one text line as the body.
void append_error_response(std::string& out, int status, std::string_view line);

// The last chunk with a trailer section of `trailers` (names and values already checked).
void append_last_chunk(std::string& out, const Headers& trailers);

// is_token_char, to_lower_ascii and iequals_ascii live in message.h.

}  // namespace portcullis::gateway::http
