// The ACME crypto (RFC 8555 6.2, 7.4, 8.1; RFC 7638; RFC 8737 3): base64url, the account key
// (P-256, mode 0600), the JWK and its thumbprint, ES256 and HS256 JWS, the CSR for a tenant's
// key, and the TLS-ALPN-01 challenge certificate. OpenSSL EVP underneath; JSON by nlohmann.
// Thread: reentrant; no shared state.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "certs/ptr.h"

namespace portcullis::gateway::acme {

std::string b64url(std::string_view bytes);
std::string b64url_decode(std::string_view text);  // "" when malformed

// A new P-256 key.
certs::EvpPkeyPtr new_p256_key();
// Loads `path`, or creates a P-256 key there (mode 0600, directory 0700) when it does not exist.
certs::EvpPkeyPtr load_or_create_key(const std::string& path, std::string& err);

// {"crv":"P-256","kty":"EC","x":..,"y":..} in RFC 7638 member order.
nlohmann::json jwk(EVP_PKEY* key);
// base64url(SHA-256(canonical JWK)).
std::string thumbprint(EVP_PKEY* key);

// A flattened JWS (RFC 7515 7.2.2) signed with ES256. `kid` empty: the header carries the JWK.
// `payload` is the JSON text, or "" for POST-as-GET.
std::string jws_es256(EVP_PKEY* key, const std::string& kid, const std::string& nonce,
                      const std::string& url, const std::string& payload);
// The externalAccountBinding object (RFC 8555 7.3.4): the account JWK signed with HS256.
nlohmann::json eab_binding(EVP_PKEY* account_key, const std::string& kid,
                           const std::string& hmac_key_b64url, const std::string& url);

// DER CSR for `hosts` (SANs; the first is the CN), signed by `key`.
std::string csr_der(EVP_PKEY* key, const std::vector<std::string>& hosts);

// RFC 8737: a self-signed certificate for `host` with the critical acmeIdentifier extension
// holding SHA-256(key_authorization), in an SSL_CTX that accepts only ALPN "acme-tls/1".
certs::SslCtxPtr tls_alpn_context(const std::string& host, const std::string& key_authorization,
                                  std::string& err);

}  // namespace portcullis::gateway::acme
