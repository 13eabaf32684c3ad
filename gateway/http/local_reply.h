// LocalReply: a response the gateway writes itself (421, 404, 503 shedding, direct_response, the
// egress refusals and TLS failures), as a value: status, reason and the one body line. Built by
// pure functions here so that the router and the egress paths decide *what* to answer and
// Exchange::local_reply() only sends it; the raw HTTP/1.1 text is for the CONNECT front half,
// which has no Exchange.
// Thread: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/observe/reason.h"

namespace portcullis::gateway::http {

class Exchange;

struct LocalReply {
  int status = 0;
  Reason why = Reason::none;
  std::string body;    // one line, without the final newline
  bool local = true;   // false: a configured direct_response (logged like an upstream answer)
  std::uint32_t retry_after = 0;  // > 0: a Retry-After header (seconds)
};

LocalReply misdirected_reply();   // 421: the host belongs to another tenant
LocalReply no_route_reply();      // 404
LocalReply overloaded_reply();    // 503: over [limits].memory_budget
LocalReply rate_limited_reply(std::uint32_t retry_after);  // 429 + Retry-After
LocalReply body_too_large_reply();  // 413: over [limits] max_request_body
LocalReply egress_denied_reply(int status, Reason why, Reason audit_reason);
// A configured direct_response: {client_identity} and {tenant} substituted, one trailing
// newline dropped (the reply adds its own).
LocalReply direct_reply(int status, std::string_view body_template,
                        std::string_view client_identity, std::string_view tenant);
// "egress TLS failure: name_mismatch": the failure class, never certificate details.
std::string egress_tls_failure_line(Reason why);

// Sends `r` on the exchange (Exchange::local_reply), keeping info().local as `r` says.
void send(Exchange& ex, const LocalReply& r) noexcept;
// The same reply as a complete HTTP/1.1 response that closes the connection.
std::string http1_text(const LocalReply& r);

}  // namespace portcullis::gateway::http
