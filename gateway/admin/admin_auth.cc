#include "gateway/admin/admin_auth.h"

#include <array>
#include <cctype>

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

namespace portcullis::gateway::admin {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view v) noexcept {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
    v.remove_prefix(1);
  }
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) {
    v.remove_suffix(1);
  }
  return v;
}

std::array<unsigned char, SHA256_DIGEST_LENGTH> digest(std::string_view s) noexcept {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

// The admin server speaks HTTP/1.x only: never select h2.
int alpn_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned inlen, void*) noexcept {
  static const unsigned char kH1[] = "\x08http/1.1";
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kH1, sizeof kH1 - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

std::string_view authorization_field(std::string_view head) noexcept {
  std::size_t at = head.find("\r\n");  // skip the request line
  while (at != std::string_view::npos && at + 2 < head.size()) {
    const std::size_t start = at + 2;
    const std::size_t end = head.find("\r\n", start);
    const std::string_view line =
        head.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos && iequals(line.substr(0, colon), "authorization")) {
      return trim(line.substr(colon + 1));
    }
    at = end;
  }
  return {};
}

bool bearer_matches(std::string_view authorization, std::string_view token) noexcept {
  if (token.empty() || authorization.size() < 7 ||
      !iequals(authorization.substr(0, 6), "bearer") ||
      (authorization[6] != ' ' && authorization[6] != '\t')) {
    return false;
  }
  const auto given = digest(trim(authorization.substr(7)));
  const auto want = digest(token);
  return CRYPTO_memcmp(given.data(), want.data(), want.size()) == 0;
}

tls::ContextResult make_admin_tls_context(const std::string& cert, const std::string& key,
                                          const std::string& client_ca) {
  tls::ServerContextSpec spec;
  spec.cert_chain = cert;
  spec.key = key;
  spec.client_ca = client_ca;
  spec.min_version = TLS1_2_VERSION;
  spec.session_id_context = "portcullis-admin";
  tls::ContextResult r = tls::make_server_context(spec);
  if (r.ctx) {
    SSL_CTX_set_alpn_select_cb(r.ctx.get(), alpn_http11, nullptr);
  }
  return r;
}

}  // namespace portcullis::gateway::admin
