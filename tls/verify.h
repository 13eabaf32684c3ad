// Identity checks on a peer certificate whose chain OpenSSL has already verified.
//
// What: SPIFFE URI SAN match, DNS (or IP) name match against SANs only (never the subject CN,
// no partial wildcards like "f*.example"), the identity string logs and headers carry, SPKI pin
// match over the verified chain, key strength, and the web-PKI leaf rules OpenSSL does not
// apply (a server leaf that is a CA, an EKU without serverAuth).
// Thread: reentrant; arguments are only read.
// Ownership: every pointer is borrowed for the call.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace portcullis::tls {

// True iff leaf carries a URI SAN byte-for-byte equal to spiffe_id.
bool has_uri_san(X509* leaf, std::string_view spiffe_id) noexcept;

// True iff a dNSName SAN matches host (case-insensitive, one trailing dot ignored, a wildcard
// "*.example" covering exactly one whole label). An IP literal host is compared against the
// iPAddress SANs instead. The subject CN is never consulted.
bool matches_dns_name(X509* leaf, std::string_view host) noexcept;

// The first spiffe:// URI SAN, else the first DNS SAN, else "".
std::string peer_identity(X509* leaf);

// True iff some certificate of the verified chain (leaf, intermediates or root) has an SPKI
// pin ("sha256/BASE64", see certs::spki_pin) listed in pins. An empty pin list means "no
// pinning" and returns true; a null or empty chain with pins returns false.
bool chain_matches_pin(STACK_OF(X509) * verified_chain,
                       const std::vector<std::string>& pins) noexcept;

enum class KeyProblem { none, rsa_too_small, unknown_curve, unsupported_type };

// RSA below 2048 bits, EC on a curve other than P-256/P-384, or a key type other than
// RSA/EC/Ed25519/Ed448.
KeyProblem check_key_strength(X509* cert) noexcept;

// "none", "rsa_too_small", "unknown_curve", "unsupported_type" (log/metric vocabulary).
std::string_view to_string(KeyProblem problem) noexcept;

// Server leaf rules OpenSSL's SSL_SERVER purpose is lenient about:
// - leaf_is_ca: basicConstraints CA:TRUE and allowed to sign certificates (keyCertSign, or no
//   keyUsage at all); a CA certificate must not also be an end entity.
// - no_server_auth: an extendedKeyUsage extension without id-kp-serverAuth. OpenSSL also accepts
//   the legacy Netscape/Microsoft server-gated-crypto purposes; anyExtendedKeyUsage alone is
//   refused too (CA/B Forum: a server certificate names serverAuth). No EKU at all is accepted.
enum class LeafProblem { none, leaf_is_ca, no_server_auth };
LeafProblem check_server_leaf(X509* leaf) noexcept;

// The X509 verify results verify_server_leaf() sets, read back by SSL_get_verify_result.
// INVALID_NON_CA ("has CA markings") is otherwise only raised for proxy-certificate chains;
// INVALID_PURPOSE is also what OpenSSL raises for a chain certificate whose EKU excludes TLS
// servers, the same failure class.
inline constexpr long kVerifyLeafIsCa = X509_V_ERR_INVALID_NON_CA;
inline constexpr long kVerifyNoServerAuth = X509_V_ERR_INVALID_PURPOSE;

// X509 verify callback for client contexts: keeps OpenSSL's verdict and, once the leaf (depth
// 0) has passed it, refuses a LeafProblem with the code above. Installed by
// make_client_context, so egress and mesh upstream connections both get it.
int verify_server_leaf(int preverify_ok, X509_STORE_CTX* ctx) noexcept;

}  // namespace portcullis::tls
