#include "tls/verify.h"

#include <arpa/inet.h>

#include <string>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "certs/pem.h"
#include "certs/ptr.h"
#include "routing/authority.h"

namespace portcullis::tls {

namespace {

bool is_ip_literal(const std::string& host) noexcept {
  return routing::parse_ip_literal(host).has_value();
}

}  // namespace

bool has_uri_san(X509* leaf, std::string_view spiffe_id) noexcept {
  if (leaf == nullptr || spiffe_id.empty()) {
    return false;
  }
  certs::GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr)));
  ERR_clear_error();
  if (!names) {
    return false;
  }
  const int n = sk_GENERAL_NAME_num(names.get());
  for (int i = 0; i < n; ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_URI) {
      continue;
    }
    const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
    std::string_view uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<std::size_t>(ASN1_STRING_length(s)));
    if (uri == spiffe_id) {
      return true;
    }
  }
  return false;
}

bool matches_dns_name(X509* leaf, std::string_view host) noexcept {
  if (leaf == nullptr) {
    return false;
  }
  if (!host.empty() && host.back() == '.') {
    host.remove_suffix(1);
  }
  if (host.empty() || host.find('\0') != std::string_view::npos) {
    return false;
  }
  try {
    std::string name(host);
    if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
      name = name.substr(1, name.size() - 2);
    }
    int r = 0;
    if (is_ip_literal(name)) {
      r = X509_check_ip_asc(leaf, name.c_str(), 0);
    } else {
      r = X509_check_host(leaf, name.data(), name.size(),
                          X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
                              X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
                          nullptr);
    }
    ERR_clear_error();
    return r == 1;
  } catch (...) {
    return false;
  }
}

std::string peer_identity(X509* leaf) {
  if (leaf == nullptr) {
    return {};
  }
  for (const std::string& uri : certs::uri_sans(leaf)) {
    if (uri.rfind("spiffe://", 0) == 0) {
      return uri;
    }
  }
  std::vector<std::string> dns = certs::dns_sans(leaf);
  return dns.empty() ? std::string() : dns.front();
}

bool chain_matches_pin(STACK_OF(X509) * verified_chain,
                       const std::vector<std::string>& pins) noexcept {
  if (pins.empty()) {
    return true;
  }
  if (verified_chain == nullptr) {
    return false;
  }
  try {
    const int n = sk_X509_num(verified_chain);
    for (int i = 0; i < n; ++i) {
      const std::string pin = certs::spki_pin(sk_X509_value(verified_chain, i));
      if (pin.empty()) {
        continue;
      }
      for (const std::string& want : pins) {
        if (want == pin) {
          return true;
        }
      }
    }
  } catch (...) {
    return false;
  }
  return false;
}

KeyProblem check_key_strength(X509* cert) noexcept {
  if (cert == nullptr) {
    return KeyProblem::unsupported_type;
  }
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr) {
    ERR_clear_error();
    return KeyProblem::unsupported_type;
  }
  const certs::KeyInfo info = certs::key_info(key);
  if (info.type == "RSA") {
    return info.bits < 2048 ? KeyProblem::rsa_too_small : KeyProblem::none;
  }
  if (info.type == "EC") {
    return certs::key_is_weak(info) ? KeyProblem::unknown_curve : KeyProblem::none;
  }
  if (info.type == "Ed25519" || info.type == "Ed448") {
    return KeyProblem::none;
  }
  return KeyProblem::unsupported_type;
}

std::string_view to_string(KeyProblem problem) noexcept {
  switch (problem) {
    case KeyProblem::none:
      return "none";
    case KeyProblem::rsa_too_small:
      return "rsa_too_small";
    case KeyProblem::unknown_curve:
      return "unknown_curve";
    case KeyProblem::unsupported_type:
      return "unsupported_type";
  }
  return "unsupported_type";
}

LeafProblem check_server_leaf(X509* leaf) noexcept {
  if (leaf == nullptr) {
    return LeafProblem::none;  // no certificate is OpenSSL's failure to report, not ours
  }
  // X509_check_ca() == 1: basicConstraints CA:TRUE, and keyUsage absent or with keyCertSign.
  // (It also caches the extensions, so the flags below are valid.)
  if (X509_check_ca(leaf) == 1) {
    ERR_clear_error();
    return LeafProblem::leaf_is_ca;
  }
  const bool has_eku = (X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) != 0;
  ERR_clear_error();
  if (has_eku && (X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER) == 0) {
    return LeafProblem::no_server_auth;
  }
  return LeafProblem::none;
}

int verify_server_leaf(int preverify_ok, X509_STORE_CTX* ctx) noexcept {
  if (preverify_ok != 1 || X509_STORE_CTX_get_error_depth(ctx) != 0) {
    return preverify_ok;
  }
  switch (check_server_leaf(X509_STORE_CTX_get_current_cert(ctx))) {
    case LeafProblem::none:
      return 1;
    case LeafProblem::leaf_is_ca:
      X509_STORE_CTX_set_error(ctx, static_cast<int>(kVerifyLeafIsCa));
      return 0;
    case LeafProblem::no_server_auth:
      X509_STORE_CTX_set_error(ctx, static_cast<int>(kVerifyNoServerAuth));
      return 0;
  }
  return 0;
}

}  // namespace portcullis::tls
