// tls::Failure: why a TLS operation failed, and the OpenSSL error queue turned into text.
//
// The detail string is for debug logs only: it may name files or internal state and never goes
// to a client.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::tls {

enum class Failure : std::uint8_t {
  none,
  handshake_failed,   // protocol error, no shared cipher/version, bad record
  unknown_sni,        // the client-hello callback found no tenant
  peer_cert_missing,  // a certificate was required and none came
  peer_cert_untrusted,  // chain did not verify (unknown CA, expired, bad signature)
  peer_identity_mismatch,  // chain fine, SPIFFE ID / name wrong
  peer_key_weak,
  closed,             // peer closed the transport mid-handshake
  tenant_quarantined,  // the name belongs to a tenant left out for its errors
  tenant_build_queue_full,  // the tenant is cold and too many tenants already wait for a build
};

std::string_view to_string(Failure f) noexcept;

// Drains the calling thread's OpenSSL error queue into one line ("lib:reason; lib:reason").
std::string drain_error_queue();

}  // namespace portcullis::tls
