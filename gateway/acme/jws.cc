#include "gateway/acme/jws.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "certs/ca.h"
#include "certs/pem.h"

namespace portcullis::gateway::acme {
namespace {

void free_exts(STACK_OF(X509_EXTENSION)* s) noexcept { sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free); }
using certs::Free;
using BnPtr = std::unique_ptr<BIGNUM, Free<BN_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX_free>>;
using ReqPtr = std::unique_ptr<X509_REQ, Free<X509_REQ_free>>;
using SigPtr = std::unique_ptr<ECDSA_SIG, Free<ECDSA_SIG_free>>;
using ExtStackPtr = std::unique_ptr<STACK_OF(X509_EXTENSION), Free<free_exts>>;
using OctetPtr = std::unique_ptr<ASN1_OCTET_STRING, Free<ASN1_OCTET_STRING_free>>;
using ObjPtr = std::unique_ptr<ASN1_OBJECT, Free<ASN1_OBJECT_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION_free>>;

std::string coordinate(EVP_PKEY* key, const char* name) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) {
    return {};
  }
  BnPtr bn{raw};
  std::string out(32, '\0');
  BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), 32);
  return out;
}

std::string sha256(std::string_view data) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

// ES256 wants r || s, 32 bytes each; OpenSSL signs in DER.
std::string es256(EVP_PKEY* key, std::string_view input) {
  MdCtxPtr md{EVP_MD_CTX_new()};
  std::size_t len = 0;
  if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(md.get(), nullptr, &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return {};
  }
  std::string der(len, '\0');
  if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(der.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return {};
  }
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  SigPtr sig{d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len))};
  if (!sig) {
    return {};
  }
  std::string out(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), reinterpret_cast<unsigned char*>(out.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), reinterpret_cast<unsigned char*>(out.data()) + 32,
               32);
  return out;
}

bool add_san(X509V3_CTX* ctx, STACK_OF(X509_EXTENSION)* exts,
             const std::vector<std::string>& hosts) {
  std::string san;
  for (const auto& h : hosts) {
    san += (san.empty() ? "DNS:" : ",DNS:") + h;
  }
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, NID_subject_alt_name, san.c_str());
  return ext != nullptr && sk_X509_EXTENSION_push(exts, ext) > 0;
}

}  // namespace

std::string b64url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) {
    out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  }
  return out;
}

std::string b64url_decode(std::string_view text) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-' || c == '+') v = 62;
    else if (c == '_' || c == '/') v = 63;
    else if (c == '=') break;
    else return {};
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

certs::EvpPkeyPtr new_p256_key() {
  return certs::EvpPkeyPtr{EVP_EC_gen("P-256")};
}

certs::EvpPkeyPtr load_or_create_key(const std::string& path, std::string& err) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    certs::EvpPkeyPtr key;
    certs::LoadError le;
    if (!certs::load_key(path, key, le)) {
      err = "cannot load " + path;
      return nullptr;
    }
    return key;
  }
  const auto dir = std::filesystem::path(path).parent_path();
  std::filesystem::create_directories(dir, ec);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  certs::EvpPkeyPtr key = new_p256_key();
  if (!key || !certs::write_key_pem(path, key.get(), err)) {
    if (err.empty()) {
      err = "cannot create a P-256 key";
    }
    return nullptr;
  }
  return key;
}

nlohmann::json jwk(EVP_PKEY* key) {
  return nlohmann::json{{"crv", "P-256"},
                        {"kty", "EC"},
                        {"x", b64url(coordinate(key, OSSL_PKEY_PARAM_EC_PUB_X))},
                        {"y", b64url(coordinate(key, OSSL_PKEY_PARAM_EC_PUB_Y))}};
}

std::string thumbprint(EVP_PKEY* key) {
  // nlohmann::json keeps object members sorted and dumps without spaces: RFC 7638's form.
  return b64url(sha256(jwk(key).dump()));
}

std::string jws_es256(EVP_PKEY* key, const std::string& kid, const std::string& nonce,
                      const std::string& url, const std::string& payload) {
  nlohmann::json header{{"alg", "ES256"}, {"nonce", nonce}, {"url", url}};
  if (kid.empty()) {
    header["jwk"] = jwk(key);
  } else {
    header["kid"] = kid;
  }
  const std::string protected64 = b64url(header.dump());
  const std::string payload64 = b64url(payload);
  const std::string sig = es256(key, protected64 + "." + payload64);
  return nlohmann::json{{"protected", protected64}, {"payload", payload64},
                        {"signature", b64url(sig)}}
      .dump();
}

nlohmann::json eab_binding(EVP_PKEY* account_key, const std::string& kid,
                           const std::string& hmac_key_b64url, const std::string& url) {
  const std::string protected64 =
      b64url(nlohmann::json{{"alg", "HS256"}, {"kid", kid}, {"url", url}}.dump());
  const std::string payload64 = b64url(jwk(account_key).dump());
  const std::string input = protected64 + "." + payload64;
  const std::string mac_key = b64url_decode(hmac_key_b64url);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), mac_key.data(), static_cast<int>(mac_key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len);
  return nlohmann::json{
      {"protected", protected64},
      {"payload", payload64},
      {"signature", b64url(std::string_view(reinterpret_cast<const char*>(mac), mac_len))}};
}

std::string csr_der(EVP_PKEY* key, const std::vector<std::string>& hosts) {
  ReqPtr req{X509_REQ_new()};
  if (!req || hosts.empty()) {
    return {};
  }
  X509_REQ_set_version(req.get(), 0);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(hosts[0].c_str()), -1, -1, 0);
  X509_REQ_set_pubkey(req.get(), key);
  ExtStackPtr exts{sk_X509_EXTENSION_new_null()};
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, nullptr, nullptr, req.get(), nullptr, 0);
  if (!exts || !add_san(&ctx, exts.get(), hosts) ||
      X509_REQ_add_extensions(req.get(), exts.get()) != 1 ||
      X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0) {
    return {};
  }
  const int len = i2d_X509_REQ(req.get(), nullptr);
  if (len <= 0) {
    return {};
  }
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509_REQ(req.get(), &p);
  return der;
}

namespace {

int select_acme_tls(SSL*, const unsigned char** out, unsigned char* outlen,
                    const unsigned char* in, unsigned int inlen, void*) noexcept {
  static constexpr unsigned char kProto[] = {10, 'a', 'c', 'm', 'e', '-', 't', 'l', 's', '/', '1'};
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kProto, sizeof kProto, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // RFC 8737 4: only acme-tls/1
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

certs::SslCtxPtr tls_alpn_context(const std::string& host, const std::string& key_authorization,
                                  std::string& err) {
  certs::CertSpec spec;
  spec.common_name = host;
  spec.dns = {host};
  spec.not_after_offset = 7 * 86400;
  certs::IssuedCert c = certs::issue_in_memory(spec, nullptr, nullptr, err);
  if (!c) {
    return nullptr;
  }
  // id-pe-acmeIdentifier (1.3.6.1.5.5.7.1.31), critical: an OCTET STRING of the digest.
  const std::string digest = sha256(key_authorization);
  OctetPtr inner{ASN1_OCTET_STRING_new()};
  ASN1_OCTET_STRING_set(inner.get(), reinterpret_cast<const unsigned char*>(digest.data()),
                        static_cast<int>(digest.size()));
  unsigned char* der = nullptr;
  const int der_len = i2d_ASN1_OCTET_STRING(inner.get(), &der);
  OctetPtr value{ASN1_OCTET_STRING_new()};
  ASN1_OCTET_STRING_set(value.get(), der, der_len);
  OPENSSL_free(der);
  ObjPtr oid{OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1)};
  ExtPtr ext{X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), 1, value.get())};
  if (!ext || X509_add_ext(c.cert.get(), ext.get(), -1) != 1 ||
      X509_sign(c.cert.get(), c.key.get(), EVP_sha256()) <= 0) {
    err = "cannot build the acme-tls/1 certificate";
    return nullptr;
  }
  certs::SslCtxPtr ctx{SSL_CTX_new(TLS_server_method())};
  if (!ctx || SSL_CTX_use_certificate(ctx.get(), c.cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), c.key.get()) != 1) {
    err = "cannot build the acme-tls/1 context";
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_alpn_select_cb(ctx.get(), select_acme_tls, nullptr);
  return ctx;
}

}  // namespace portcullis::gateway::acme
