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

// The last chunk with a trailer section of `trailers` (names and values already checked).
void append_last_chunk(std::string& out, const Headers& trailers);

// is_token_char, to_lower_ascii and iequals_ascii live in message.h.

}  // namespace portcullis::gateway::http
