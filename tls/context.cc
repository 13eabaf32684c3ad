#include "tls/context.h"

#include <cstdio>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "tls/error.h"
#include "tls/session.h"
#include "tls/verify.h"

namespace portcullis::tls {

struct ContextLoader::Impl {
  ~Impl() { OSSL_DECODER_CTX_free(key_decoder); }

  // The leaf and the rest of a PEM chain file; false when the file is not plain CERTIFICATE
  // blocks (the caller then uses OpenSSL's loader, which knows every variant).
  bool load_chain(const std::string& path, X509Ptr& leaf, std::vector<X509Ptr>& chain);
  // The private key, or null (the caller then uses OpenSSL's loader).
  EvpPkeyPtr load_key(const std::string& path);

  OSSL_DECODER_CTX* key_decoder = nullptr;  // writes into `decoded`
  EVP_PKEY* decoded = nullptr;
  std::unordered_map<std::string, X509Ptr> chain_certs;  // DER -> parsed once
};

namespace {

template <class T>
struct OsslFree {
  void operator()(T* p) const noexcept { OPENSSL_free(p); }
};

bool read_file(const std::string& path, std::string& out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return false;
  }
  char buf[8192];
  std::size_t n = 0;
  out.clear();
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    out.append(buf, n);
  }
  const bool ok = std::ferror(f) == 0;
  std::fclose(f);
  return ok;
}

}  // namespace

bool ContextLoader::Impl::load_chain(const std::string& path, X509Ptr& leaf,
                                     std::vector<X509Ptr>& chain) {
  std::string pem;
  if (!read_file(path, pem)) {
    return false;
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    return false;
  }
  for (;;) {
    char* name_raw = nullptr;
    char* header_raw = nullptr;
    unsigned char* data_raw = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name_raw, &header_raw, &data_raw, &len) != 1) {
      const unsigned long e = ERR_peek_last_error();
      const bool end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
      ERR_clear_error();
      return end && leaf != nullptr;
    }
    std::unique_ptr<char, OsslFree<char>> name(name_raw);
    std::unique_ptr<char, OsslFree<char>> header(header_raw);
    std::unique_ptr<unsigned char, OsslFree<unsigned char>> data(data_raw);
    if (std::strcmp(name.get(), PEM_STRING_X509) != 0 || header.get()[0] != '\0' || len <= 0) {
      return false;
    }
    const unsigned char* p = data.get();
    if (!leaf) {
      leaf.reset(d2i_X509(nullptr, &p, len));
      if (!leaf) {
        ERR_clear_error();
        return false;
      }
      continue;
    }
    std::string der(reinterpret_cast<const char*>(data.get()), static_cast<std::size_t>(len));
    auto it = chain_certs.find(der);
    if (it == chain_certs.end()) {
      X509Ptr parsed(d2i_X509(nullptr, &p, len));
      if (!parsed) {
        ERR_clear_error();
        return false;
      }
      it = chain_certs.emplace(std::move(der), std::move(parsed)).first;
    }
    X509_up_ref(it->second.get());
    chain.emplace_back(it->second.get());
  }
}

EvpPkeyPtr ContextLoader::Impl::load_key(const std::string& path) {
  if (key_decoder == nullptr) {
    // The decoder PEM_read_bio_PrivateKey would set up, made once and reused for every key.
    key_decoder = OSSL_DECODER_CTX_new_for_pkey(&decoded, "PEM", nullptr, nullptr,
                                                EVP_PKEY_KEYPAIR, nullptr, nullptr);
    if (key_decoder == nullptr) {
      ERR_clear_error();
      return nullptr;
    }
  }
  std::string pem;
  if (!read_file(path, pem)) {
    return nullptr;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(pem.data());
  std::size_t left = pem.size();
  decoded = nullptr;
  const int ok = OSSL_DECODER_from_data(key_decoder, &p, &left);
  EvpPkeyPtr key(decoded);
  decoded = nullptr;
  if (ok != 1 || !key) {
    ERR_clear_error();
    return nullptr;
  }
  return key;
}

ContextLoader::ContextLoader() : impl_(std::make_unique<Impl>()) {}
ContextLoader::~ContextLoader() = default;

std::size_t ContextLoader::cached_certificates() const noexcept {
  return impl_->chain_certs.size();
}

namespace {

constexpr const char* kCipherList12 =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

ContextResult failure(std::string what) {
  std::string detail = drain_error_queue();
  if (!detail.empty()) {
    what += " (" + detail + ")";
  }
  return ContextResult{nullptr, std::move(what)};
}

void common_settings(SSL_CTX* ctx, int min_version) {
  SSL_CTX_set_min_proto_version(ctx, min_version != 0 ? min_version : TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx, kCipherList12);
  SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384");
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned inlen, void* arg) noexcept {
  const bool offer_h2 = arg != nullptr;
  static const unsigned char kBoth[] = "\x02h2\x08http/1.1";
  static const unsigned char kH1[] = "\x08http/1.1";
  const unsigned char* ours = offer_h2 ? kBoth : kH1;
  const unsigned ours_len = offer_h2 ? sizeof kBoth - 1 : sizeof kH1 - 1;
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, ours, ours_len, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    // No overlap: continue without ALPN (HTTP/1.1) rather than fail the handshake.
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

int parse_min_version(const std::string& v) noexcept {
  if (v.empty() || v == "1.2") {
    return TLS1_2_VERSION;
  }
  if (v == "1.3") {
    return TLS1_3_VERSION;
  }
  return 0;
}

namespace {

// The loader's fast path, else OpenSSL's file loader (the only one before the loader existed).
bool use_chain(SSL_CTX* ctx, const std::string& path, ContextLoader::Impl* loader) {
  X509Ptr leaf;
  std::vector<X509Ptr> chain;
  if (loader != nullptr && loader->load_chain(path, leaf, chain)) {
    if (SSL_CTX_use_certificate(ctx, leaf.get()) != 1 || SSL_CTX_clear_chain_certs(ctx) != 1) {
      return false;
    }
    for (auto& c : chain) {
      if (SSL_CTX_add1_chain_cert(ctx, c.get()) != 1) {
        return false;
      }
    }
    return true;
  }
  return SSL_CTX_use_certificate_chain_file(ctx, path.c_str()) == 1;
}

bool use_key(SSL_CTX* ctx, const std::string& path, ContextLoader::Impl* loader) {
  if (loader != nullptr) {
    if (EvpPkeyPtr key = loader->load_key(path)) {
      return SSL_CTX_use_PrivateKey(ctx, key.get()) == 1;  // takes its own reference
    }
  }
  return SSL_CTX_use_PrivateKey_file(ctx, path.c_str(), SSL_FILETYPE_PEM) == 1;
}

}  // namespace

ContextResult make_server_context(const ServerContextSpec& spec, ContextLoader* loader) {
  ERR_clear_error();
  SslCtxPtr ctx{SSL_CTX_new(TLS_server_method())};
  if (!ctx) {
    return failure("SSL_CTX_new failed");
  }
  common_settings(ctx.get(), spec.min_version);
  ContextLoader::Impl* memo = loader != nullptr ? loader->impl_.get() : nullptr;
  if (!use_chain(ctx.get(), spec.cert_chain, memo)) {
    return failure("cannot load certificate chain " + spec.cert_chain);
  }
  if (!use_key(ctx.get(), spec.key, memo)) {
    return failure("cannot load private key " + spec.key);
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return failure("private key " + spec.key + " does not match certificate " + spec.cert_chain);
  }
  if (!spec.client_ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), spec.client_ca.c_str(), nullptr) != 1) {
      return failure("cannot load client CA bundle " + spec.client_ca);
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(spec.client_ca.c_str());
    if (names == nullptr) {
      return failure("no CA names in client CA bundle " + spec.client_ca);
    }
    SSL_CTX_set_client_CA_list(ctx.get(), names);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    SSL_CTX_set_verify_depth(ctx.get(), 4);
  }
  // OpenSSL asks the context the SNI callback switched to for ALPN, so every tenant context
  // needs the callback too.
  SSL_CTX_set_alpn_select_cb(ctx.get(), alpn_select, ctx.get());
  const std::string& sid = spec.session_id_context;
  SSL_CTX_set_session_id_context(ctx.get(), reinterpret_cast<const unsigned char*>(sid.data()),
                                 static_cast<unsigned>(std::min<std::size_t>(sid.size(),
                                                                             SSL_MAX_SID_CTX_LENGTH)));
  return ContextResult{std::move(ctx), {}};
}

ContextResult make_front_context(bool offer_h2) {
  ERR_clear_error();
  SslCtxPtr ctx{SSL_CTX_new(TLS_server_method())};
  if (!ctx) {
    return failure("SSL_CTX_new failed");
  }
  common_settings(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_alpn_select_cb(ctx.get(), alpn_select, offer_h2 ? ctx.get() : nullptr);
  // Stateless tickets only: no server-side session cache to share or lock between workers.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx.get(), 1);
  return ContextResult{std::move(ctx), {}};
}

ContextResult make_client_context(const ClientContextSpec& spec) {
  ERR_clear_error();
  SslCtxPtr ctx{SSL_CTX_new(TLS_client_method())};
  if (!ctx) {
    return failure("SSL_CTX_new failed");
  }
  common_settings(ctx.get(), spec.min_version);
  if (!spec.cert_chain.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), spec.cert_chain.c_str()) != 1) {
      return failure("cannot load certificate chain " + spec.cert_chain);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), spec.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      return failure("cannot load private key " + spec.key);
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1) {
      return failure("private key " + spec.key + " does not match " + spec.cert_chain);
    }
  }
  if (spec.ca_bundle == "system") {
    if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
      return failure("cannot load the system trust store");
    }
  } else if (SSL_CTX_load_verify_locations(ctx.get(), spec.ca_bundle.c_str(), nullptr) != 1) {
    return failure("cannot load CA bundle " + spec.ca_bundle);
  }
  // Verification is never optional on the client side; identity checks follow in verify.h.
  // The callback adds the leaf rules OpenSSL lacks (a CA as leaf, an EKU without serverAuth).
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, verify_server_leaf);
  SSL_CTX_set_verify_depth(ctx.get(), 4);
  if (!spec.alpn.empty()) {
    std::string wire;
    for (const auto& p : spec.alpn) {
      wire.push_back(static_cast<char>(p.size()));
      wire += p;
    }
    SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  // Sessions go to the connection's SessionSink (the pool), never to an internal cache.
  enable_client_sessions(ctx.get());
  return ContextResult{std::move(ctx), {}};
}

}  // namespace portcullis::tls
