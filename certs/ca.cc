#include "certs/ca.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "certs/pem.h"

namespace portcullis::certs {

namespace {

using BignumPtr = std::unique_ptr<BIGNUM, Free<BN_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, Free<ASN1_INTEGER_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Free<GENERAL_NAME_free>>;
using Ia5StringPtr = std::unique_ptr<ASN1_IA5STRING, Free<ASN1_IA5STRING_free>>;
using OctetStringPtr = std::unique_ptr<ASN1_OCTET_STRING, Free<ASN1_OCTET_STRING_free>>;

std::string openssl_reason() {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) {
    return "unknown OpenSSL error";
  }
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

bool fail(std::string& err, std::string message) {
  err = std::move(message);
  return false;
}

EvpPkeyPtr generate_key(const CertSpec& spec, std::string& err) {
  EVP_PKEY* raw = nullptr;
  if (spec.key == "ec") {
    raw = EVP_EC_gen(spec.curve.c_str());
  } else if (spec.key == "rsa") {
    if (spec.rsa_bits < 512 || spec.rsa_bits > 16384) {
      err = "RSA key size must be between 512 and 16384 bits";
      return nullptr;
    }
    raw = EVP_RSA_gen(static_cast<unsigned int>(spec.rsa_bits));
  } else if (spec.key == "ed25519") {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  } else {
    err = "unknown key type \"" + spec.key + "\" (expected ec, rsa or ed25519)";
    return nullptr;
  }
  if (raw == nullptr) {
    err = "key generation failed (" + spec.key + (spec.key == "ec" ? " " + spec.curve : "") +
          "): " + openssl_reason();
  }
  return EvpPkeyPtr(raw);
}

bool add_text_ext(X509* cert, X509* issuer, int nid, const char* value, std::string& err) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return fail(err, std::string("cannot add extension ") + OBJ_nid2sn(nid) + "=" + value + ": " +
                         openssl_reason());
  }
  return true;
}

bool push_ia5(GENERAL_NAMES* names, int type, const std::string& value) {
  Ia5StringPtr s(ASN1_IA5STRING_new());
  if (!s || ASN1_STRING_set(s.get(), value.data(), static_cast<int>(value.size())) != 1) {
    return false;
  }
  GeneralNamePtr gn(GENERAL_NAME_new());
  if (!gn) {
    return false;
  }
  GENERAL_NAME_set0_value(gn.get(), type, s.release());
  if (sk_GENERAL_NAME_push(names, gn.get()) <= 0) {
    return false;
  }
  gn.release();
  return true;
}

bool add_sans(X509* cert, const CertSpec& spec, std::string& err) {
  if (spec.dns.empty() && spec.uris.empty() && spec.ips.empty()) {
    return true;
  }
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) {
    return fail(err, "out of memory");
  }
  for (const std::string& d : spec.dns) {
    if (!push_ia5(names.get(), GEN_DNS, d)) {
      return fail(err, "cannot add DNS name " + d);
    }
  }
  for (const std::string& u : spec.uris) {
    if (!push_ia5(names.get(), GEN_URI, u)) {
      return fail(err, "cannot add URI " + u);
    }
  }
  for (const std::string& ip : spec.ips) {
    OctetStringPtr addr(a2i_IPADDRESS(ip.c_str()));
    if (!addr) {
      ERR_clear_error();
      return fail(err, "not an IP address: \"" + ip + "\"");
    }
    GeneralNamePtr gn(GENERAL_NAME_new());
    if (!gn) {
      return fail(err, "out of memory");
    }
    GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, addr.release());
    if (sk_GENERAL_NAME_push(names.get(), gn.get()) <= 0) {
      return fail(err, "out of memory");
    }
    gn.release();
  }
  // RFC 5280 4.2.1.6: critical when the subject is empty.
  const int critical = spec.common_name.empty() && spec.organization.empty() ? 1 : 0;
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), critical,
                        X509V3_ADD_DEFAULT) != 1) {
    return fail(err, "cannot add subjectAltName: " + openssl_reason());
  }
  return true;
}

bool set_random_serial(X509* cert, std::string& err) {
  BignumPtr bn(BN_new());
  if (!bn || BN_rand(bn.get(), 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1) {
    return fail(err, "cannot generate serial: " + openssl_reason());
  }
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial || X509_set_serialNumber(cert, serial.get()) != 1) {
    return fail(err, "cannot set serial: " + openssl_reason());
  }
  return true;
}

bool add_name_entry(X509_NAME* name, const char* field, const std::string& value,
                    std::string& err) {
  if (value.empty()) {
    return true;
  }
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                 0) != 1) {
    return fail(err, std::string("cannot set subject ") + field + "=\"" + value + "\": " +
                         openssl_reason());
  }
  return true;
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Opens path for writing with the given mode, forcing the mode if the file already existed.
std::FILE* open_for_write(const std::string& path, mode_t mode, std::string& err) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    err = path + ": cannot write file";
    return nullptr;
  }
  if (::fchmod(fd, mode) != 0) {
    ::close(fd);
    err = path + ": cannot set file mode";
    return nullptr;
  }
  std::FILE* f = ::fdopen(fd, "w");
  if (f == nullptr) {
    ::close(fd);
    err = path + ": cannot write file";
  }
  return f;
}

std::string trust_domain_of(X509* ca) {
  for (const std::string& uri : uri_sans(ca)) {
    constexpr std::string_view kScheme = "spiffe://";
    if (uri.compare(0, kScheme.size(), kScheme) == 0) {
      std::string td = uri.substr(kScheme.size());
      if (const std::size_t slash = td.find('/'); slash != std::string::npos) {
        td.resize(slash);
      }
      return td;
    }
  }
  return {};
}

}  // namespace

IssuedCert issue_in_memory(const CertSpec& spec, X509* issuer_cert, EVP_PKEY* issuer_key,
                           std::string& err) {
  if ((issuer_cert == nullptr) != (issuer_key == nullptr)) {
    err = "issuer certificate and key must be given together";
    return {};
  }
  IssuedCert out;
  out.key = generate_key(spec, err);
  if (!out.key) {
    return {};
  }
  X509Ptr cert(X509_new());
  if (!cert) {
    err = "out of memory";
    return {};
  }
  X509* x = cert.get();
  if (X509_set_version(x, X509_VERSION_3) != 1 || !set_random_serial(x, err)) {
    if (err.empty()) {
      err = "cannot set version";
    }
    return {};
  }
  if (X509_gmtime_adj(X509_getm_notBefore(x), static_cast<long>(spec.not_before_offset)) ==
          nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(spec.not_after_offset)) ==
          nullptr) {
    err = "cannot set validity: " + openssl_reason();
    return {};
  }
  X509_NAME* subject = X509_get_subject_name(x);
  if (!add_name_entry(subject, "O", spec.organization, err) ||
      !add_name_entry(subject, "CN", spec.common_name, err)) {
    return {};
  }
  X509* signer_cert = issuer_cert != nullptr ? issuer_cert : x;
  EVP_PKEY* signer_key = issuer_key != nullptr ? issuer_key : out.key.get();
  if (X509_set_issuer_name(x, X509_get_subject_name(signer_cert)) != 1 ||
      X509_set_pubkey(x, out.key.get()) != 1) {
    err = "cannot set issuer or key: " + openssl_reason();
    return {};
  }
  const bool rsa = spec.key == "rsa";
  if (spec.is_ca) {
    if (!add_text_ext(x, signer_cert, NID_basic_constraints, "critical,CA:TRUE", err) ||
        !add_text_ext(x, signer_cert, NID_key_usage, "critical,keyCertSign,cRLSign", err)) {
      return {};
    }
  } else {
    const char* usage = rsa ? "critical,digitalSignature,keyEncipherment"
                            : "critical,digitalSignature";
    const char* eku = spec.client_and_server ? "serverAuth,clientAuth" : "serverAuth";
    if (!add_text_ext(x, signer_cert, NID_basic_constraints, "critical,CA:FALSE", err) ||
        !add_text_ext(x, signer_cert, NID_key_usage, usage, err) ||
        !add_text_ext(x, signer_cert, NID_ext_key_usage, eku, err)) {
      return {};
    }
  }
  if (!add_text_ext(x, signer_cert, NID_subject_key_identifier, "hash", err)) {
    return {};
  }
  if (issuer_cert != nullptr &&
      !add_text_ext(x, signer_cert, NID_authority_key_identifier, "keyid:always", err)) {
    return {};
  }
  if (!add_sans(x, spec, err)) {
    return {};
  }
  const EVP_MD* md = EVP_PKEY_get_base_id(signer_key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  if (X509_sign(x, signer_key, md) <= 0) {
    err = "signing failed: " + openssl_reason();
    return {};
  }
  out.cert = std::move(cert);
  return out;
}

bool write_certs_pem(const std::string& path, const std::vector<X509*>& certs, std::string& err) {
  std::FILE* f = open_for_write(path, 0644, err);
  if (f == nullptr) {
    return false;
  }
  bool ok = true;
  for (X509* c : certs) {
    if (PEM_write_X509(f, c) != 1) {
      ok = false;
    }
  }
  if (std::fclose(f) != 0) {
    ok = false;
  }
  if (!ok) {
    ERR_clear_error();
    return fail(err, path + ": cannot write certificate");
  }
  return true;
}

bool write_key_pem(const std::string& path, EVP_PKEY* key, std::string& err) {
  std::FILE* f = open_for_write(path, 0600, err);
  if (f == nullptr) {
    return false;
  }
  bool ok = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  if (std::fclose(f) != 0) {
    ok = false;
  }
  if (!ok) {
    ERR_clear_error();
    return fail(err, path + ": cannot write private key");
  }
  return true;
}

bool load_ca(const std::string& dir, X509Ptr& cert, EvpPkeyPtr& key, std::string& err) {
  Chain chain;
  LoadError load_err;
  if (!load_chain(dir + "/ca.pem", chain, load_err)) {
    return fail(err, load_err.message);
  }
  EvpPkeyPtr k;
  if (!load_key(dir + "/ca.key", k, load_err)) {
    return fail(err, load_err.message);
  }
  if (!key_matches(chain.certs.front().get(), k.get())) {
    return fail(err, dir + "/ca.key does not match " + dir + "/ca.pem");
  }
  cert = std::move(chain.certs.front());
  key = std::move(k);
  return true;
}

bool init_ca(const std::string& dir, const std::string& name, const std::string& trust_domain,
             std::string& err) {
  if (name.empty()) {
    return fail(err, "the CA needs a name");
  }
  if (trust_domain.find_first_of("/:@?# ") != std::string::npos) {
    return fail(err, "invalid trust domain \"" + trust_domain + "\" (expected e.g. mesh.example)");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return fail(err, dir + ": cannot create directory: " + ec.message());
  }
  const std::string key_path = dir + "/ca.key";
  if (file_exists(key_path)) {
    return fail(err, key_path + " already exists; refusing to overwrite a CA key");
  }
  CertSpec spec;
  spec.common_name = name;
  spec.is_ca = true;
  spec.not_before_offset = -kBackdateSeconds;
  spec.not_after_offset = std::int64_t{kCaValidityDays} * 86400;
  if (!trust_domain.empty()) {
    spec.uris.push_back("spiffe://" + trust_domain);
  }
  IssuedCert ca = issue_in_memory(spec, nullptr, nullptr, err);
  if (!ca) {
    return false;
  }
  return write_key_pem(key_path, ca.key.get(), err) &&
         write_certs_pem(dir + "/ca.pem", {ca.cert.get()}, err);
}

bool issue(const IssueOptions& options, std::string& err) {
  if (options.out_prefix.empty()) {
    return fail(err, "an output prefix is required");
  }
  if (options.dns.empty() && options.spiffe.empty() && options.ip.empty()) {
    return fail(err, "at least one of --dns, --spiffe or --ip is required");
  }
  if (options.days <= 0 || options.days > 36500) {
    return fail(err, "days must be between 1 and 36500");
  }
  if (options.key != "ec" && options.key != "rsa") {
    return fail(err, "key must be \"ec\" or \"rsa\"");
  }
  if (options.key == "rsa" && options.rsa_bits < 2048) {
    return fail(err, "RSA keys must have at least 2048 bits");
  }
  X509Ptr ca_cert;
  EvpPkeyPtr ca_key;
  if (!load_ca(options.ca_dir, ca_cert, ca_key, err)) {
    return false;
  }
  if (!options.spiffe.empty()) {
    constexpr std::string_view kScheme = "spiffe://";
    if (options.spiffe.compare(0, kScheme.size(), kScheme) != 0 ||
        options.spiffe.find('/', kScheme.size()) == std::string::npos) {
      return fail(err, "invalid SPIFFE ID \"" + options.spiffe +
                           "\" (expected spiffe://trust.domain/path)");
    }
    const std::string td = trust_domain_of(ca_cert.get());
    if (!td.empty() && options.spiffe.compare(kScheme.size(), td.size() + 1, td + "/") != 0) {
      return fail(err, "SPIFFE ID \"" + options.spiffe + "\" is outside the CA's trust domain " +
                           td);
    }
  }
  CertSpec spec;
  spec.dns = options.dns;
  spec.ips = options.ip;
  if (!options.spiffe.empty()) {
    spec.uris.push_back(options.spiffe);
  }
  if (!options.dns.empty()) {
    spec.common_name = options.dns.front();
  } else if (!options.ip.empty()) {
    spec.common_name = options.ip.front();
  }
  if (spec.common_name.size() > 64) {
    spec.common_name.clear();  // CN is limited to 64 characters; the SANs carry the names
  }
  spec.key = options.key;
  spec.rsa_bits = options.rsa_bits;
  spec.not_after_offset = std::int64_t{options.days} * 86400;
  spec.client_and_server = options.client_and_server;
  IssuedCert leaf = issue_in_memory(spec, ca_cert.get(), ca_key.get(), err);
  if (!leaf) {
    return false;
  }
  return write_key_pem(options.out_prefix + ".key", leaf.key.get(), err) &&
         write_certs_pem(options.out_prefix + ".pem", {leaf.cert.get(), ca_cert.get()}, err);
}

}  // namespace portcullis::certs
