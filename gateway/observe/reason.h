// Reason: the one vocabulary of the access log, the audit log and metric labels.
//
// The string returned by to_string() appears verbatim in logs and metrics. Renaming a value is a
// breaking change for operators: add, never rename.
#pragma once

#include <cstdint>
#include <string_view>

namespace portcullis::gateway {

enum class Reason : std::uint16_t {
  none,
  // Downstream connection.
  proxy_header_invalid,
  proxy_source_untrusted,
  tls_unknown_sni,
  tls_handshake_failed,
  tls_handshake_timeout,
  tls_client_cert_required,
  tls_client_cert_rejected,
  // Downstream request.
  http_malformed,
  h2_protocol_error,
  h2_flood,
  headers_too_large,
  header_timeout,
  misdirected_host,  // 421
  no_route,          // 404
  // Upstream.
  upstream_connect_failed,     // 502
  upstream_tls_failed,         // 502
  upstream_identity_mismatch,  // 502
  upstream_protocol_error,     // 502
  upstream_reset,              // 502
  no_healthy_endpoint,         // 503
  upstream_timeout,            // 504
  // Egress.
  egress_denied,
  // Connection end.
  idle_timeout,
  peer_closed,
  draining,
  internal_error,
};

std::string_view to_string(Reason r) noexcept;

}  // namespace portcullis::gateway
