#include <catch2/catch.hpp>

#include "certs/ca.h"
#include "certs/inspect.h"
#include "certs/pem.h"
#include "tests/unit/certs/test_util.h"

using namespace portcullis::certs;
using portcullis::certs::testing::make_ca;
using portcullis::certs::testing::make_leaf;
using portcullis::certs::testing::TempDir;

TEST_CASE("rfc3339", "[inspect]") {
  CHECK(rfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(rfc3339(1700000000) == "2023-11-14T22:13:20Z");
}

TEST_CASE("inspect prints every certificate of a file", "[inspect]") {
  TempDir dir;
  IssuedCert ca = make_ca("Inspect CA");
  CertSpec spec;
  spec.common_name = "a.example";
  spec.dns = {"a.example"};
  spec.uris = {"spiffe://mesh.example/ns/a/sa/b"};
  spec.ips = {"192.0.2.1"};
  IssuedCert leaf = make_leaf(spec, ca);
  std::string err;
  const std::string path = dir.path() + "/chain.pem";
  REQUIRE(write_certs_pem(path, {leaf.cert.get(), ca.cert.get()}, err));
  bool ok = false;
  const std::string text = inspect(path, ok);
  REQUIRE(ok);
  CHECK(text.find("certificate: 1 of 2\n") != std::string::npos);
  CHECK(text.find("certificate: 2 of 2\n") != std::string::npos);
  CHECK(text.find("subject: CN=a.example\n") != std::string::npos);
  CHECK(text.find("dns: a.example\n") != std::string::npos);
  CHECK(text.find("uri: spiffe://mesh.example/ns/a/sa/b\n") != std::string::npos);
  CHECK(text.find("ip: 192.0.2.1\n") != std::string::npos);
  CHECK(text.find("issuer: CN=Inspect CA\n") != std::string::npos);
  CHECK(text.find("key_type: EC\n") != std::string::npos);
  CHECK(text.find("key_curve: P-256\n") != std::string::npos);
  CHECK(text.find("spki_pin: " + spki_pin(leaf.cert.get()) + "\n") != std::string::npos);
  CHECK(text.find("sha256_fingerprint: " + fingerprint_sha256(ca.cert.get()) + "\n") !=
        std::string::npos);
  CHECK(text.find("not_after: " + rfc3339(not_after_unix(leaf.cert.get())) + "\n") !=
        std::string::npos);
  // Every line is "key: value".
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string l = text.substr(start, end - start);
    if (!l.empty()) {
      CHECK(l.find(": ") != std::string::npos);
    }
    start = end + 1;
  }
}

TEST_CASE("inspect reports expired certs, key files and errors", "[inspect]") {
  TempDir dir;
  IssuedCert ca = make_ca("CA");
  CertSpec spec;
  spec.dns = {"old.example"};
  spec.key = "rsa";
  spec.rsa_bits = 1024;
  spec.not_before_offset = -2 * 86400;
  spec.not_after_offset = -86400;
  IssuedCert old = make_leaf(spec, ca);
  std::string err;
  REQUIRE(write_certs_pem(dir.path() + "/old.pem", {old.cert.get()}, err));
  REQUIRE(write_key_pem(dir.path() + "/old.key", old.key.get(), err));
  bool ok = false;
  std::string text = inspect(dir.path() + "/old.pem", ok);
  REQUIRE(ok);
  CHECK(text.find("status: EXPIRED\n") != std::string::npos);
  CHECK(text.find("key_bits: 1024\n") != std::string::npos);
  CHECK(text.find("key_warning:") != std::string::npos);

  text = inspect(dir.path() + "/old.key", ok);
  REQUIRE(ok);
  CHECK(text.find("key_type: RSA\n") != std::string::npos);

  text = inspect(dir.path() + "/missing.pem", ok);
  CHECK_FALSE(ok);
  CHECK(text.find("missing.pem") != std::string::npos);
}
