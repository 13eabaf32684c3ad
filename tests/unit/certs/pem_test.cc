#include <catch2/catch.hpp>

#include <ctime>
#include <fstream>

#include "certs/ca.h"
#include "certs/pem.h"
#include "tests/unit/certs/test_util.h"

using namespace portcullis::certs;
using portcullis::certs::testing::make_ca;
using portcullis::certs::testing::make_leaf;
using portcullis::certs::testing::TempDir;

namespace {

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

}  // namespace

TEST_CASE("load_chain / load_key / load_bundle round trip", "[pem]") {
  TempDir dir;
  IssuedCert ca = make_ca("Test CA");
  CertSpec spec;
  spec.common_name = "leaf.example";
  spec.dns = {"leaf.example"};
  IssuedCert leaf = make_leaf(spec, ca);
  std::string err;
  const std::string chain_path = dir.path() + "/chain.pem";
  const std::string key_path = dir.path() + "/leaf.key";
  REQUIRE(write_certs_pem(chain_path, {leaf.cert.get(), ca.cert.get()}, err));
  REQUIRE(write_key_pem(key_path, leaf.key.get(), err));

  Chain chain;
  LoadError lerr;
  REQUIRE(load_chain(chain_path, chain, lerr));
  REQUIRE(chain.certs.size() == 2);
  CHECK(X509_cmp(chain.certs[0].get(), leaf.cert.get()) == 0);
  CHECK(X509_cmp(chain.certs[1].get(), ca.cert.get()) == 0);

  EvpPkeyPtr key;
  REQUIRE(load_key(key_path, key, lerr));
  CHECK(key_matches(chain.certs[0].get(), key.get()));
  CHECK_FALSE(key_matches(chain.certs[1].get(), key.get()));
  CHECK_FALSE(key_matches(nullptr, key.get()));

  std::vector<X509Ptr> bundle;
  REQUIRE(load_bundle(chain_path, bundle, lerr));
  CHECK(bundle.size() == 2);
}

TEST_CASE("loaders fail with a message naming the file", "[pem]") {
  TempDir dir;
  LoadError err;
  Chain chain;
  const std::string missing = dir.path() + "/missing.pem";
  CHECK_FALSE(load_chain(missing, chain, err));
  CHECK(err.message.find(missing) != std::string::npos);

  const std::string empty = dir.path() + "/empty.pem";
  write_text(empty, "");
  CHECK_FALSE(load_chain(empty, chain, err));
  CHECK(err.message.find(empty) != std::string::npos);

  const std::string junk = dir.path() + "/junk.pem";
  write_text(junk, "hello, not pem\n");
  CHECK_FALSE(load_chain(junk, chain, err));
  CHECK(err.message.find("junk.pem") != std::string::npos);
  EvpPkeyPtr key;
  CHECK_FALSE(load_key(junk, key, err));
  CHECK(err.message.find("junk.pem") != std::string::npos);
  std::vector<X509Ptr> bundle;
  CHECK_FALSE(load_bundle(junk, bundle, err));

  const std::string broken = dir.path() + "/broken.pem";
  write_text(broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  CHECK_FALSE(load_chain(broken, chain, err));
  CHECK(err.message.find("broken.pem") != std::string::npos);
}

TEST_CASE("validity, SANs, names, pins and fingerprints", "[pem]") {
  IssuedCert ca = make_ca("Test CA");
  CertSpec spec;
  spec.common_name = "svc.example";
  spec.organization = "Acme, Inc.";
  spec.dns = {"svc.example", "*.svc.example"};
  spec.uris = {"spiffe://mesh.example/ns/acme/sa/svc"};
  spec.ips = {"127.0.0.1", "::1"};
  spec.not_before_offset = -3600;
  spec.not_after_offset = 86400;
  IssuedCert leaf = make_leaf(spec, ca);
  X509* x = leaf.cert.get();
  const std::int64_t now = std::time(nullptr);
  CHECK(std::llabs(not_before_unix(x) - (now - 3600)) < 10);
  CHECK(std::llabs(not_after_unix(x) - (now + 86400)) < 10);
  CHECK(dns_sans(x) == std::vector<std::string>{"svc.example", "*.svc.example"});
  CHECK(uri_sans(x) == std::vector<std::string>{"spiffe://mesh.example/ns/acme/sa/svc"});
  CHECK(ip_sans(x) == std::vector<std::string>{"127.0.0.1", "::1"});
  CHECK(subject_string(x) == "CN=svc.example,O=Acme\\, Inc.");
  CHECK(issuer_string(x) == "CN=Test CA");
  const std::string pin = spki_pin(x);
  CHECK(pin.rfind("sha256/", 0) == 0);
  CHECK(pin.size() == 7 + 44);
  CHECK(pin != spki_pin(ca.cert.get()));
  const std::string fp = fingerprint_sha256(x);
  CHECK(fp.size() == 64);
  CHECK(fp.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(dns_sans(nullptr).empty());
}

TEST_CASE("spki_pin depends on the key only, the fingerprint on the certificate", "[pem]") {
  IssuedCert a = make_ca("A");
  CertSpec spec;
  spec.dns = {"x.example"};
  IssuedCert leaf = make_leaf(spec, a);
  // Re-certify the same key under another CA: pin is about the key, not the certificate.
  X509Ptr copy(X509_dup(leaf.cert.get()));
  IssuedCert b = make_ca("B");
  REQUIRE(X509_set_issuer_name(copy.get(), X509_get_subject_name(b.cert.get())) == 1);
  REQUIRE(X509_sign(copy.get(), b.key.get(), EVP_sha256()) > 0);
  CHECK(spki_pin(copy.get()) == spki_pin(leaf.cert.get()));
  CHECK(fingerprint_sha256(copy.get()) != fingerprint_sha256(leaf.cert.get()));
}

TEST_CASE("key_info and key_is_weak", "[pem]") {
  std::string err;
  CertSpec ec;
  ec.common_name = "ec";
  IssuedCert p256 = issue_in_memory(ec, nullptr, nullptr, err);
  REQUIRE(p256);
  KeyInfo k = key_info(p256.key.get());
  CHECK(k.type == "EC");
  CHECK(k.bits == 256);
  CHECK(k.curve == "P-256");
  CHECK_FALSE(key_is_weak(k));

  ec.curve = "P-384";
  IssuedCert p384 = issue_in_memory(ec, nullptr, nullptr, err);
  REQUIRE(p384);
  k = key_info(X509_get0_pubkey(p384.cert.get()));
  CHECK(k.curve == "P-384");
  CHECK_FALSE(key_is_weak(k));

  ec.curve = "secp256k1";
  IssuedCert k1 = issue_in_memory(ec, nullptr, nullptr, err);
  REQUIRE(k1);
  k = key_info(k1.key.get());
  CHECK(k.type == "EC");
  CHECK(k.curve == "secp256k1");
  CHECK(key_is_weak(k));

  CertSpec rsa;
  rsa.common_name = "rsa";
  rsa.key = "rsa";
  rsa.rsa_bits = 1024;
  IssuedCert r1024 = issue_in_memory(rsa, nullptr, nullptr, err);
  REQUIRE(r1024);
  k = key_info(r1024.key.get());
  CHECK(k.type == "RSA");
  CHECK(k.bits == 1024);
  CHECK(key_is_weak(k));
  CHECK_FALSE(key_is_weak(KeyInfo{"RSA", 2048, ""}));

  CertSpec ed;
  ed.common_name = "ed";
  ed.key = "ed25519";
  IssuedCert e = issue_in_memory(ed, nullptr, nullptr, err);
  INFO(err);
  REQUIRE(e);
  CHECK(key_info(e.key.get()).type == "Ed25519");
  CHECK_FALSE(key_is_weak(key_info(e.key.get())));
  CHECK(key_info(nullptr).type == "unknown");
  CHECK(key_is_weak(KeyInfo{"unknown", 0, ""}));
}
