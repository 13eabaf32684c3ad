// The answers of a `kind = "http"` listener (issue #16): ACME HTTP-01 key authorizations under
// /.well-known/acme-challenge/<token>, and a 308 to https (same host, path and query) for every
// other request to a host some tenant serves; 404 otherwise, so the listener is no open
// redirector.
// Thread: the worker loop of the connection; reads tls::AcmeChallenges (locked, any thread).
#pragma once

#include <string>
#include <string_view>

#include "gateway/http/exchange.h"
#include "gateway/snapshot/snapshot.h"

namespace portcullis::gateway::listen {

inline constexpr std::string_view kAcmeChallengePrefix = "/.well-known/acme-challenge/";

// Answers `ex` on a plain-HTTP listener.
void answer_plain_http(http::Exchange& ex, const runtime::Snapshot& snap) noexcept;

// The redirect target for `authority` + `path`: "https://host/path?query" (the port dropped:
// the https side is on 443), or "" when the authority has no host.
std::string https_location(std::string_view authority, std::string_view path);

}  // namespace portcullis::gateway::listen
