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
  }
  return "unknown";
}

}  // namespace portcullis::gateway
