#include "tls/error.h"

#include <openssl/err.h>

namespace portcullis::tls {

std::string_view to_string(Failure f) noexcept {
  switch (f) {
    case Failure::none: return "none";
    case Failure::handshake_failed: return "handshake_failed";
    case Failure::unknown_sni: return "unknown_sni";
    case Failure::peer_cert_missing: return "peer_cert_missing";
    case Failure::peer_cert_untrusted: return "peer_cert_untrusted";
    case Failure::peer_identity_mismatch: return "peer_identity_mismatch";
    case Failure::peer_key_weak: return "peer_key_weak";
    case Failure::closed: return "closed";
    case Failure::tenant_quarantined: return "tenant_quarantined";
    case Failure::tenant_build_queue_full: return "tenant_build_queue_full";
  }
  return "unknown";
}

std::string drain_error_queue() {
  std::string out;
  unsigned long code;
  char buf[256];
  while ((code = ERR_get_error()) != 0) {
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) {
      out += "; ";
    }
    out += buf;
  }
  return out;
}

}  // namespace portcullis::tls
