// Helpers for the certs / verify unit tests: temp directories and a small in-memory PKI.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "certs/ca.h"

namespace portcullis::certs::testing {

// A fresh directory under $TMPDIR, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pc-certs-XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline IssuedCert make_ca(const std::string& name, const std::string& trust_domain = "") {
  CertSpec spec;
  spec.common_name = name;
  spec.is_ca = true;
  if (!trust_domain.empty()) {
    spec.uris.push_back("spiffe://" + trust_domain);
  }
  spec.not_after_offset = 3650LL * 86400;
  std::string err;
  IssuedCert ca = issue_in_memory(spec, nullptr, nullptr, err);
  INFO(err);
  REQUIRE(ca);
  return ca;
}

inline IssuedCert make_leaf(const CertSpec& spec, const IssuedCert& ca) {
  std::string err;
  IssuedCert leaf = issue_in_memory(spec, ca.cert.get(), ca.key.get(), err);
  INFO(err);
  REQUIRE(leaf);
  return leaf;
}

// X509_verify_cert of leaf against the single root ca (no intermediates). Returns the
// verification error (X509_V_OK on success).
inline int verify_against(X509* leaf, X509* ca) {
  X509StorePtr store(X509_STORE_new());
  REQUIRE(store);
  REQUIRE(X509_STORE_add_cert(store.get(), ca) == 1);
  std::unique_ptr<X509_STORE_CTX, Free<X509_STORE_CTX_free>> ctx(X509_STORE_CTX_new());
  REQUIRE(ctx);
  REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) == 1);
  const int rc = X509_verify_cert(ctx.get());
  const int error = X509_STORE_CTX_get_error(ctx.get());
  return rc == 1 ? X509_V_OK : (error == X509_V_OK ? -1 : error);
}

}  // namespace portcullis::certs::testing
