// The internal CA behind `portcullis certs init-ca | issue`, plus in-memory issuing for tests
// and the demo.
//
// What: makes an EC P-256 CA (10 years, basicConstraints CA:TRUE critical, keyUsage
// keyCertSign|cRLSign, SKID, and a URI SAN "spiffe://<trust domain>" when one is given) and
// issues leaf certificates from it: SANs (DNS, one SPIFFE URI, IPs), EKU serverAuth+clientAuth,
// random 128-bit serial, SKID/AKID. Key files are written with mode 0600.
// Thread: reentrant; no shared state.
// Ownership: in-memory results own their X509 / EVP_PKEY (certs/ptr.h); raw pointer arguments
// are borrowed for the call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "certs/ptr.h"

namespace portcullis::certs {

inline constexpr int kCaValidityDays = 3650;
inline constexpr int kDefaultLeafDays = 365;
// Leaf notBefore is backdated this much to tolerate clock skew between machines.
inline constexpr std::int64_t kBackdateSeconds = 300;

// Writes DIR/ca.pem and DIR/ca.key (0600); creates DIR if needed. Refuses to overwrite an
// existing DIR/ca.key. trust_domain may be empty.
bool init_ca(const std::string& dir, const std::string& name, const std::string& trust_domain,
             std::string& err);

struct IssueOptions {
  std::string ca_dir;                 // holds ca.pem + ca.key written by init_ca
  std::string out_prefix;             // writes PREFIX.pem (leaf then CA cert) and PREFIX.key
  std::vector<std::string> dns;       // DNS SANs; the first is also the subject CN
  std::string spiffe;                 // optional URI SAN, must lie in the CA's trust domain
  std::vector<std::string> ip;        // IP SANs (IPv4 or IPv6 text)
  int days = kDefaultLeafDays;
  std::string key = "ec";             // "ec" (P-256) | "rsa"
  int rsa_bits = 2048;
  bool client_and_server = true;      // EKU serverAuth+clientAuth; false = serverAuth only
};

// Issues from the CA in options.ca_dir and writes the files. At least one SAN is required.
bool issue(const IssueOptions& options, std::string& err);

// Everything about a certificate to make in memory.
struct CertSpec {
  std::string common_name;            // subject CN; may be empty if SANs are given
  std::string organization;           // optional subject O
  std::vector<std::string> dns;
  std::vector<std::string> uris;      // e.g. "spiffe://demo.mesh/ns/acme/sa/echo"
  std::vector<std::string> ips;
  std::string key = "ec";             // "ec" | "rsa" | "ed25519"
  std::string curve = "P-256";        // for "ec": any curve OpenSSL knows ("P-384", "P-521", ...)
  int rsa_bits = 2048;                // any size, including weak ones for tests
  std::int64_t not_before_offset = -kBackdateSeconds;                  // seconds from now
  std::int64_t not_after_offset = std::int64_t{kDefaultLeafDays} * 86400;  // seconds from now
  bool is_ca = false;                 // CA:TRUE + keyCertSign|cRLSign instead of leaf usages
  bool client_and_server = true;      // leaf EKU: serverAuth+clientAuth, or serverAuth only
};

struct IssuedCert {
  X509Ptr cert;
  EvpPkeyPtr key;
  explicit operator bool() const noexcept { return cert && key; }
};

// Generates a key and a certificate for spec. With issuer_cert/issuer_key null the
// certificate is self-signed; otherwise it is signed by them. On failure returns an empty
// IssuedCert and fills err.
IssuedCert issue_in_memory(const CertSpec& spec, X509* issuer_cert, EVP_PKEY* issuer_key,
                           std::string& err);

// File helpers shared by the CLI and the demo writer.
// Writes the certificates in order as PEM (mode 0644).
bool write_certs_pem(const std::string& path, const std::vector<X509*>& certs, std::string& err);
// Writes an unencrypted PKCS#8 PEM private key with mode 0600 (also when the file existed).
bool write_key_pem(const std::string& path, EVP_PKEY* key, std::string& err);
// Loads DIR/ca.pem + DIR/ca.key and checks they belong together.
bool load_ca(const std::string& dir, X509Ptr& cert, EvpPkeyPtr& key, std::string& err);

}  // namespace portcullis::certs
