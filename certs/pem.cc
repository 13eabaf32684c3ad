#include "certs/pem.h"

#include <cstdio>
#include <ctime>

#include <arpa/inet.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

namespace portcullis::certs {

namespace {

std::string openssl_reason() {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) {
    return {};
  }
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

BioPtr open_file(const std::string& path, LoadError& err) {
  BioPtr bio(BIO_new_file(path.c_str(), "rb"));
  if (!bio) {
    ERR_clear_error();
    err.message = path + ": cannot open file";
    return nullptr;
  }
  return bio;
}

// Reads every certificate in a PEM file. Fails if the file has none.
bool read_certs(const std::string& path, std::vector<X509Ptr>& out, LoadError& err) {
  BioPtr bio = open_file(path, err);
  if (!bio) {
    return false;
  }
  std::vector<X509Ptr> certs;
  for (;;) {
    X509* raw = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (raw == nullptr) {
      unsigned long code = ERR_peek_last_error();
      if (ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE) {
        ERR_clear_error();  // end of file
        break;
      }
      std::string reason = openssl_reason();
      err.message = path + ": invalid PEM certificate #" + std::to_string(certs.size() + 1) +
                    (reason.empty() ? "" : " (" + reason + ")");
      return false;
    }
    certs.emplace_back(raw);
  }
  if (certs.empty()) {
    err.message = path + ": no PEM certificate found (expected \"-----BEGIN CERTIFICATE-----\")";
    return false;
  }
  out = std::move(certs);
  return true;
}

std::int64_t asn1_time_to_unix(const ASN1_TIME* t) noexcept {
  if (t == nullptr) {
    return 0;
  }
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) {
    return 0;
  }
  return static_cast<std::int64_t>(timegm(&tm));
}

std::vector<std::string> sans_of_type(X509* cert, int type) {
  std::vector<std::string> out;
  if (cert == nullptr) {
    return out;
  }
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) {
    return out;
  }
  const int n = sk_GENERAL_NAME_num(names.get());
  for (int i = 0; i < n; ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != type) {
      continue;
    }
    if (type == GEN_DNS || type == GEN_URI) {
      const ASN1_IA5STRING* s = type == GEN_DNS ? gn->d.dNSName : gn->d.uniformResourceIdentifier;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<std::size_t>(ASN1_STRING_length(s)));
    } else if (type == GEN_IPADD) {
      const ASN1_OCTET_STRING* s = gn->d.iPAddress;
      const unsigned char* p = ASN1_STRING_get0_data(s);
      const int len = ASN1_STRING_length(s);
      char text[INET6_ADDRSTRLEN] = {0};
      std::string rendered;
      if (len == 4 && inet_ntop(AF_INET, p, text, sizeof text) != nullptr) {
        rendered = text;
      } else if (len == 16 && inet_ntop(AF_INET6, p, text, sizeof text) != nullptr) {
        rendered = text;
      } else {
        static constexpr char kHex[] = "0123456789abcdef";
        for (int i = 0; i < len; ++i) {
          rendered.push_back(kHex[p[i] >> 4]);
          rendered.push_back(kHex[p[i] & 0x0f]);
        }
      }
      out.push_back(std::move(rendered));
    }
  }
  return out;
}

std::string name_string(const X509_NAME* name) {
  if (name == nullptr) {
    return {};
  }
  BioPtr mem(BIO_new(BIO_s_mem()));
  if (!mem) {
    return {};
  }
  if (X509_NAME_print_ex(mem.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    return {};
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(mem.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string base64(const unsigned char* data, int len) {
  std::string out(static_cast<std::size_t>(4 * ((len + 2) / 3)) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, len);
  out.resize(static_cast<std::size_t>(n));
  return out;
}

}  // namespace

bool load_chain(const std::string& path, Chain& out, LoadError& err) {
  std::vector<X509Ptr> certs;
  if (!read_certs(path, certs, err)) {
    return false;
  }
  out.certs = std::move(certs);
  return true;
}

bool load_bundle(const std::string& path, std::vector<X509Ptr>& out, LoadError& err) {
  return read_certs(path, out, err);
}

bool load_key(const std::string& path, EvpPkeyPtr& out, LoadError& err) {
  BioPtr bio = open_file(path, err);
  if (!bio) {
    return false;
  }
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (raw == nullptr) {
    std::string reason = openssl_reason();
    err.message = path + ": no PEM private key found" + (reason.empty() ? "" : " (" + reason + ")");
    return false;
  }
  out.reset(raw);
  return true;
}

bool key_matches(X509* cert, EVP_PKEY* key) noexcept {
  if (cert == nullptr || key == nullptr) {
    return false;
  }
  const EVP_PKEY* pub = X509_get0_pubkey(cert);
  if (pub == nullptr) {
    ERR_clear_error();
    return false;
  }
  const int r = EVP_PKEY_eq(pub, key);
  ERR_clear_error();
  return r == 1;
}

std::int64_t not_after_unix(X509* cert) noexcept {
  return cert == nullptr ? 0 : asn1_time_to_unix(X509_get0_notAfter(cert));
}

std::int64_t not_before_unix(X509* cert) noexcept {
  return cert == nullptr ? 0 : asn1_time_to_unix(X509_get0_notBefore(cert));
}

KeyInfo key_info(EVP_PKEY* key) noexcept {
  KeyInfo info;
  if (key == nullptr) {
    info.type = "unknown";
    return info;
  }
  try {
    info.bits = EVP_PKEY_get_bits(key);
    switch (EVP_PKEY_get_base_id(key)) {
      case EVP_PKEY_RSA:
      case EVP_PKEY_RSA_PSS:
        info.type = "RSA";
        break;
      case EVP_PKEY_EC: {
        info.type = "EC";
        char group[80] = {0};
        std::size_t len = 0;
        if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) == 1) {
          const int nid = OBJ_sn2nid(group) != NID_undef ? OBJ_sn2nid(group) : OBJ_ln2nid(group);
          const char* nist = nid != NID_undef ? EC_curve_nid2nist(nid) : nullptr;
          info.curve = nist != nullptr ? nist : group;
        }
        break;
      }
      case EVP_PKEY_ED25519:
        info.type = "Ed25519";
        break;
      case EVP_PKEY_ED448:
        info.type = "Ed448";
        break;
      default:
        info.type = "unknown";
        break;
    }
  } catch (...) {
    info.type = "unknown";
  }
  ERR_clear_error();
  return info;
}

bool key_is_weak(const KeyInfo& k) noexcept {
  if (k.type == "RSA") {
    return k.bits < 2048;
  }
  if (k.type == "EC") {
    return k.curve != "P-256" && k.curve != "P-384";
  }
  if (k.type == "Ed25519" || k.type == "Ed448") {
    return false;
  }
  return true;
}

std::vector<std::string> dns_sans(X509* cert) { return sans_of_type(cert, GEN_DNS); }
std::vector<std::string> uri_sans(X509* cert) { return sans_of_type(cert, GEN_URI); }
std::vector<std::string> ip_sans(X509* cert) { return sans_of_type(cert, GEN_IPADD); }

std::string subject_string(X509* cert) {
  return cert == nullptr ? std::string() : name_string(X509_get_subject_name(cert));
}

std::string issuer_string(X509* cert) {
  return cert == nullptr ? std::string() : name_string(X509_get_issuer_name(cert));
}

std::string spki_pin(X509* cert) {
  if (cert == nullptr) {
    return {};
  }
  X509_PUBKEY* pub = X509_get_X509_PUBKEY(cert);
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(pub, &der);
  if (len <= 0) {
    ERR_clear_error();
    return {};
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<std::size_t>(len), digest);
  OPENSSL_free(der);
  return "sha256/" + base64(digest, SHA256_DIGEST_LENGTH);
}

std::string fingerprint_sha256(X509* cert) {
  if (cert == nullptr) {
    return {};
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) {
    ERR_clear_error();
    return {};
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0x0f]);
  }
  return out;
}

}  // namespace portcullis::certs
