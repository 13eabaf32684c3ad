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

// is_token_char, to_lower_ascii and iequals_ascii live in message.h.

}  // namespace portcullis::gateway::http
