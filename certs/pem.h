// PEM loading and read-only inspection helpers for certificates and private keys.
//
// What: load a certificate chain, a private key or a CA bundle from a PEM file, and pull the
// facts the gateway needs out of an X509 / EVP_PKEY (validity, key type, SANs, names, pins).
// Thread: every function is reentrant; they share no state. OpenSSL objects passed in are
// only read (callers must not mutate them concurrently).
// Ownership: loaders hand back owning RAII pointers (certs/ptr.h); raw pointer arguments are
// borrowed for the duration of the call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "certs/ptr.h"

namespace portcullis::certs {

// A certificate chain as found in a PEM file: leaf first, then intermediates (and possibly a
// root) in file order.
struct Chain {
  std::vector<X509Ptr> certs;
};

// Why loading failed; human readable and names the file.
struct LoadError {
  std::string message;
};

// Each returns false and fills err on failure (unreadable, not PEM, empty).
bool load_chain(const std::string& path, Chain& out, LoadError& err);
bool load_key(const std::string& path, EvpPkeyPtr& out, LoadError& err);
// A CA bundle: every certificate in the file, in file order.
bool load_bundle(const std::string& path, std::vector<X509Ptr>& out, LoadError& err);

// True iff key is the private half of cert's public key.
bool key_matches(X509* cert, EVP_PKEY* key) noexcept;

// Validity bounds in seconds since the Unix epoch (0 if the field cannot be read).
std::int64_t not_after_unix(X509* cert) noexcept;
std::int64_t not_before_unix(X509* cert) noexcept;

struct KeyInfo {
  std::string type;   // "EC", "RSA", "Ed25519", "Ed448", or "unknown"
  int bits = 0;       // key size in bits
  std::string curve;  // EC only: "P-256", "P-384", "P-521" or the OpenSSL short name
};
KeyInfo key_info(EVP_PKEY* key) noexcept;
// RSA < 2048 bits, EC on a curve other than P-256/P-384, or an unknown key type.
bool key_is_weak(const KeyInfo& k) noexcept;

// Subject alternative names of each kind, in certificate order. IPs are printed in their
// canonical text form ("127.0.0.1", "::1").
std::vector<std::string> dns_sans(X509* cert);
std::vector<std::string> uri_sans(X509* cert);
std::vector<std::string> ip_sans(X509* cert);

// One-line RFC 2253 rendering ("CN=foo,O=bar").
std::string subject_string(X509* cert);
std::string issuer_string(X509* cert);

// "sha256/BASE64" of the DER SubjectPublicKeyInfo (HPKP-style pin).
std::string spki_pin(X509* cert);
// Lower-case hex SHA-256 of the DER certificate, no separators.
std::string fingerprint_sha256(X509* cert);

}  // namespace portcullis::certs
