#include "gateway/observe/reason.h"

namespace portcullis::gateway {

std::string_view to_string(Reason r) noexcept {
  switch (r) {
    case Reason::none: return "none";
    case Reason::proxy_header_invalid: return "proxy_header_invalid";
    case Reason::proxy_source_untrusted: return "proxy_source_untrusted";
    case Reason::tls_unknown_sni: return "tls_unknown_sni";
    case Reason::tls_handshake_failed: return "tls_handshake_failed";
    case Reason::tls_handshake_timeout: return "tls_handshake_timeout";
    case Reason::tls_client_cert_required: return "tls_client_cert_required";
    case Reason::tls_client_cert_rejected: return "tls_client_cert_rejected";
    case Reason::tenant_quarantined: return "tenant_quarantined";
    case Reason::tenant_build_queue_full: return "tenant_build_queue_full";
    case Reason::http_malformed: return "http_malformed";
    case Reason::h2_protocol_error: return "h2_protocol_error";
    case Reason::h2_flood: return "h2_flood";
    case Reason::headers_too_large: return "headers_too_large";
    case Reason::header_timeout: return "header_timeout";
    case Reason::misdirected_host: return "misdirected_host";
    case Reason::no_route: return "no_route";
    case Reason::upstream_connect_failed: return "upstream_connect_failed";
    case Reason::upstream_tls_failed: return "upstream_tls_failed";
    case Reason::upstream_identity_mismatch: return "upstream_identity_mismatch";
    case Reason::upstream_protocol_error: return "upstream_protocol_error";
    case Reason::upstream_reset: return "upstream_reset";
    case Reason::no_healthy_endpoint: return "no_healthy_endpoint";
    case Reason::upstream_overflow: return "upstream_overflow";
    case Reason::grpc_deadline_exceeded: return "grpc_deadline_exceeded";
    case Reason::request_body_timeout: return "request_body_timeout";
    case Reason::acme_challenge: return "acme_challenge";
    case Reason::https_redirect: return "https_redirect";
    case Reason::expectation_failed: return "expectation_failed";
    case Reason::upgrade_refused: return "upgrade_refused";
    case Reason::upgraded_connection_limit: return "upgraded_connection_limit";
    case Reason::admin_unauthorized: return "admin_unauthorized";
    case Reason::request_body_too_large: return "request_body_too_large";
    case Reason::upstream_timeout: return "upstream_timeout";
    case Reason::egress_denied: return "egress_denied";
    case Reason::egress_private_address: return "egress_private_address";
    case Reason::egress_resolve_failed: return "egress_resolve_failed";
    case Reason::untrusted_ca: return "untrusted_ca";
    case Reason::name_mismatch: return "name_mismatch";
    case Reason::expired: return "expired";
    case Reason::pin_mismatch: return "pin_mismatch";
    case Reason::weak_key: return "weak_key";
    case Reason::tls_version: return "tls_version";
    case Reason::leaf_is_ca: return "leaf_is_ca";
    case Reason::eku_not_server_auth: return "eku_not_server_auth";
    case Reason::listener_connection_limit: return "listener_connection_limit";
    case Reason::ip_connection_limit: return "ip_connection_limit";
    case Reason::tenant_connection_limit: return "tenant_connection_limit";
    case Reason::fd_exhausted: return "fd_exhausted";
    case Reason::memory_budget: return "memory_budget";
    case Reason::idle_timeout: return "idle_timeout";
    case Reason::peer_closed: return "peer_closed";
    case Reason::draining: return "draining";
    case Reason::internal_error: return "internal_error";
    case Reason::upstream_resolve_failed: return "upstream_resolve_failed";
    case Reason::upstream_connect_timeout: return "upstream_connect_timeout";
    case Reason::egress_allowed: return "allowed";
    case Reason::egress_tunnel: return "tunnel";
    case Reason::egress_destination_not_listed: return "destination_not_listed";
    case Reason::egress_identity_not_allowed: return "identity_not_allowed";
    case Reason::egress_ip_literal: return "ip_literal";
    case Reason::egress_bad_destination: return "bad_destination";
    case Reason::egress_bad_connect: return "bad_connect";
    case Reason::egress_tunnel_not_allowed: return "tunnel_not_allowed";
    case Reason::egress_non_loopback_client: return "non_loopback_client";
    case Reason::egress_sni_mismatch: return "sni_mismatch";
    case Reason::egress_not_tls: return "not_tls";
    case Reason::egress_destination_private: return "private_address";
    case Reason::egress_destination_unresolved: return "resolve_failed";
    case Reason::egress_connect_failed: return "connect_failed";
    case Reason::config_valid: return "valid";
    case Reason::config_invalid: return "invalid_config";
    case Reason::cert_changed: return "changed";
    case Reason::invalid_certificate: return "invalid_certificate";
    case Reason::plaintext_configured: return "plaintext_configured";
    case Reason::invalid_ticket_keys: return "invalid_ticket_keys";
    case Reason::memory_recovered: return "memory_recovered";
    case Reason::tenant_stale: return "tenant_stale";
    case Reason::rate_limited: return "rate_limited";
    case Reason::rate_limit_ended: return "rate_limit_ended";
    case Reason::acme_issued: return "acme_issued";
    case Reason::acme_renewed: return "acme_renewed";
    case Reason::acme_failed: return "acme_failed";
  }
  return "unknown";
}

bool counted_as_upstream_failure(Reason r) noexcept {
  switch (r) {
    case Reason::upstream_connect_failed:
    case Reason::upstream_connect_timeout:
    case Reason::upstream_resolve_failed:
    case Reason::upstream_tls_failed:
    case Reason::upstream_identity_mismatch:
    case Reason::untrusted_ca:
    case Reason::name_mismatch:
    case Reason::expired:
    case Reason::pin_mismatch:
    case Reason::weak_key:
    case Reason::tls_version:
      return true;
    default:
      return false;
  }
}

}  // namespace portcullis::gateway
