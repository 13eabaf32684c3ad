// Http1Session helpers shared with the HTTP/1.1 upstream client (private to gateway/http and
// gateway/upstream). The session itself is created with make_http1_session() (session.h).
//
// Thread:   pure functions.
#pragma once

#include <string>
#include <string_view>

namespace portcullis::gateway::http {

// "OK", "Not Found", ... ("Unknown" for codes we do not name).
std::string_view status_reason_phrase(int status) noexcept;

// RFC 9110 token character (method names, field names, transfer codings).
bool is_token_char(char c) noexcept;

// ASCII lower-casing.
std::string to_lower_ascii(std::string_view s);

// Case-insensitive ASCII equality.
bool iequals_ascii(std::string_view a, std::string_view b) noexcept;

}  // namespace portcullis::gateway::http
