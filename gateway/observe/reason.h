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
  tenant_quarantined,  // the SNI names a tenant left out for its errors (audit tenant_state)
  tenant_build_queue_full,  // the SNI names a cold tenant and the context builder's queue is full
  // Downstream request.
  http_malformed,
  h2_protocol_error,
  h2_flood,
  headers_too_large,
  header_timeout,
  misdirected_host,  // 421
  no_route,          // 404
  request_body_timeout,  // 408: the body did not complete within request_body_timeout
  acme_challenge,        // 200: an ACME HTTP-01 key authorization (kind = "http" listener)
  https_redirect,        // 308: a plain-HTTP request sent to https
  expectation_failed,    // 417: an Expect other than 100-continue
  upgrade_refused,       // 403/501: an Upgrade / extended CONNECT the route does not allow
  upgraded_connection_limit,  // 503: the tenant's open WebSockets reached its [limits] cap
  admin_unauthorized,    // 401 on the admin listener: no or a wrong bearer token (audit admin_reject)
  request_body_too_large,  // 413: the body is over [limits] max_request_body
  // Upstream.
  upstream_connect_failed,     // 502
  upstream_tls_failed,         // 502
  upstream_identity_mismatch,  // 502
  upstream_protocol_error,     // 502
  upstream_reset,              // 502
  no_healthy_endpoint,         // 503
  upstream_timeout,            // 504
  upstream_overflow,           // 503: past max_upstream_connections and max_pending_requests
  grpc_deadline_exceeded,      // 504 / grpc-status 4: the request's grpc-timeout passed
  // Egress.
  egress_denied,
  egress_private_address,  // the destination resolved into a refused range
  egress_resolve_failed,
  untrusted_ca,            // 502: the chain does not lead to the entry's roots
  name_mismatch,           // 502: no SAN matches the destination
  expired,                 // 502: a certificate in the chain is expired or not yet valid
  pin_mismatch,            // 502: no SPKI pin matched the verified chain
  weak_key,                // 502: RSA < 2048 or an unknown curve
  tls_version,             // 502: no TLS version at or above min_tls
  leaf_is_ca,              // 502: the server's own certificate is a CA (CA:TRUE, keyCertSign)
  eku_not_server_auth,     // 502: the leaf's extendedKeyUsage does not include serverAuth
  // Connection caps ([limits] max_connections_per_*).
  listener_connection_limit,
  ip_connection_limit,
  tenant_connection_limit,
  fd_exhausted,  // accept failed with EMFILE/ENFILE: the listener backs off (not a cap)
  // Overload ([limits] memory_budget): new requests answered 503.
  memory_budget,
  // Connection end.
  idle_timeout,
  peer_closed,
  draining,
  internal_error,
  // Upstream connection events (portcullis_upstream_failures_total{reason}).
  upstream_resolve_failed,
  upstream_connect_timeout,
  // Egress decisions: audit reasons and egress_decisions_total labels. The words are the ones
  // operators already see (left), so several differ from the enum name.
  egress_allowed,                 // "allowed"
  egress_tunnel,                  // "tunnel"
  egress_destination_not_listed,  // "destination_not_listed" (routing::kEgressNotListed)
  egress_identity_not_allowed,    // "identity_not_allowed"   (routing::kEgressIdentityNotAllowed)
  egress_ip_literal,              // "ip_literal"             (routing::kEgressIpLiteral)
  egress_bad_destination,         // "bad_destination"
  egress_bad_connect,             // "bad_connect"
  egress_tunnel_not_allowed,      // "tunnel_not_allowed"
  egress_non_loopback_client,     // "non_loopback_client"
  egress_sni_mismatch,            // "sni_mismatch"
  egress_not_tls,                 // "not_tls"
  egress_destination_private,     // "private_address"
  egress_destination_unresolved,  // "resolve_failed"
  egress_connect_failed,          // "connect_failed"
  // Process events (audit).
  config_valid,           // "valid"
  config_invalid,         // "invalid_config"
  cert_changed,           // "changed"
  invalid_certificate,
  plaintext_configured,
  invalid_ticket_keys,
  memory_recovered,
  tenant_stale,  // a tenant's new files have errors: its previous version keeps serving
  // Rate limits ([rate_limit] of a tenant, [limits] client_requests_per_second): 429 with
  // Retry-After; audited when limiting starts (rate_limited) and stops (rate_limit_ended).
  rate_limited,
  rate_limit_ended,
  // ACME (audit, portcullis_acme_orders_total{result}).
  acme_issued,     // a certificate issued for a tenant that had none from ACME yet
  acme_renewed,    // a certificate replaced before it expired
  acme_failed,     // an order failed: the old certificate keeps serving; retried with backoff
};

// Reasons an upstream connection counts itself (portcullis_upstream_failures_total, once per
// connection); the requests it fails are not counted again in portcullis_rejections_total.
bool counted_as_upstream_failure(Reason r) noexcept;

std::string_view to_string(Reason r) noexcept;

}  // namespace portcullis::gateway
