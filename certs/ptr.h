// RAII owners for OpenSSL objects: one generic deleter, one alias per type.
//
// Lives in certs/ (the lowest layer that touches OpenSSL) so that certs/, tls/ and gateway/
// share the same aliases; tls/ptr.h re-exports them.
#pragma once

#include <memory>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace portcullis::certs {

template <auto FreeFn>
struct Free {
  template <class T>
  void operator()(T* p) const noexcept { FreeFn(p); }
};

using SslPtr = std::unique_ptr<SSL, Free<SSL_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, Free<SSL_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Free<X509_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO_free_all>>;
using X509StorePtr = std::unique_ptr<X509_STORE, Free<X509_STORE_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Free<GENERAL_NAMES_free>>;

}  // namespace portcullis::certs
