#include "certs/inspect.h"

#include <ctime>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "certs/pem.h"

namespace portcullis::certs {

namespace {

void line(std::string& out, const char* key, const std::string& value) {
  out += key;
  out += ": ";
  out += value;
  out += '\n';
}

std::string serial_hex(X509* cert) {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr);
  if (bn == nullptr) {
    ERR_clear_error();
    return {};
  }
  char* hex = BN_bn2hex(bn);
  BN_free(bn);
  if (hex == nullptr) {
    return {};
  }
  std::string out = hex;
  OPENSSL_free(hex);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

void describe_key(std::string& out, EVP_PKEY* key) {
  const KeyInfo k = key_info(key);
  line(out, "key_type", k.type);
  line(out, "key_bits", std::to_string(k.bits));
  if (!k.curve.empty()) {
    line(out, "key_curve", k.curve);
  }
  if (key_is_weak(k)) {
    line(out, "key_warning", "weak key (RSA < 2048 bits or curve other than P-256/P-384)");
  }
}

}  // namespace

std::string rfc3339(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  struct tm tm {};
  if (gmtime_r(&t, &tm) == nullptr) {
    return {};
  }
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

std::string describe_cert(X509* cert) {
  std::string out;
  line(out, "subject", subject_string(cert));
  for (const std::string& s : dns_sans(cert)) {
    line(out, "dns", s);
  }
  for (const std::string& s : uri_sans(cert)) {
    line(out, "uri", s);
  }
  for (const std::string& s : ip_sans(cert)) {
    line(out, "ip", s);
  }
  line(out, "issuer", issuer_string(cert));
  line(out, "serial", serial_hex(cert));
  const std::int64_t not_before = not_before_unix(cert);
  const std::int64_t not_after = not_after_unix(cert);
  line(out, "not_before", rfc3339(not_before));
  line(out, "not_after", rfc3339(not_after));
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  if (now > not_after) {
    line(out, "status", "EXPIRED");
  } else if (now < not_before) {
    line(out, "status", "NOT YET VALID");
  } else {
    line(out, "status", "valid, expires in " + std::to_string((not_after - now) / 86400) +
                            " days");
  }
  line(out, "ca", X509_check_ca(cert) != 0 ? "true" : "false");
  describe_key(out, X509_get0_pubkey(cert));
  line(out, "spki_pin", spki_pin(cert));
  line(out, "sha256_fingerprint", fingerprint_sha256(cert));
  ERR_clear_error();
  return out;
}

std::string inspect(const std::string& path, bool& ok) {
  std::vector<X509Ptr> certs;
  LoadError err;
  if (!load_bundle(path, certs, err)) {
    EvpPkeyPtr key;
    LoadError key_err;
    if (load_key(path, key, key_err)) {
      ok = true;
      std::string out;
      line(out, "private_key", path);
      describe_key(out, key.get());
      return out;
    }
    ok = false;
    return err.message;
  }
  ok = true;
  std::string out;
  for (std::size_t i = 0; i < certs.size(); ++i) {
    if (i > 0) {
      out += '\n';
    }
    line(out, "certificate", std::to_string(i + 1) + " of " + std::to_string(certs.size()));
    out += describe_cert(certs[i].get());
  }
  return out;
}

}  // namespace portcullis::certs
