// Forwarding headers written at the edge: X-Forwarded-*, Forwarded (RFC 7239), X-Request-Id and
// X-Forwarded-Client-Cert (Envoy's format).
//
// Thread:   pure functions; generate_request_id() uses a thread_local PRNG.
// Ownership: nothing kept; apply_forwarding() edits the RequestHead it is given.
#pragma once

#include <string>
#include <string_view>

#include "gateway/http/message.h"
#include "gateway/http/session.h"

namespace portcullis::gateway::http {

// A random 128-bit id as UUID v4 text ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx").
std::string generate_request_id();

// 1..128 characters of [A-Za-z0-9._-]: safe to log and to forward verbatim.
bool valid_request_id(std::string_view id) noexcept;

struct ForwardingInput {
  const ConnFacts* conn = nullptr;
  std::string client_cert_uri;      // verified SPIFFE ID or empty
  std::string client_cert_subject;  // RFC 2253 subject of the verified client cert, or empty
  std::string client_cert_hash;     // sha256 hex of the client cert DER; empty: no client cert
  std::string by;                   // the gateway's own identity (SPIFFE ID)
};

// Rewrites the forwarding fields of `req` as the first trusted hop. Every client-sent
// x-forwarded-for / -proto / -host, forwarded and x-forwarded-client-cert is removed first:
// at the edge nobody vouches for them, so keeping them would let a client spoof its address,
// scheme or certificate identity to the services behind us. Returns the request id (kept from
// the client when valid, else generated).
std::string apply_forwarding(RequestHead& req, const ForwardingInput& in);

// RFC 7239 "node" for an IP: IPv6 in quoted brackets ("\"[2001:db8::1]\""), IPv4 as is.
std::string forwarded_node(std::string_view ip);

}  // namespace portcullis::gateway::http
