#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <ctime>

#include "certs/ca.h"
#include "certs/pem.h"
#include "tests/unit/certs/test_util.h"

using namespace portcullis::certs;
using portcullis::certs::testing::TempDir;
using portcullis::certs::testing::verify_against;

namespace {

unsigned file_mode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

X509Ptr first_cert(const std::string& path) {
  Chain chain;
  LoadError err;
  INFO(err.message);
  REQUIRE(load_chain(path, chain, err));
  return std::move(chain.certs.front());
}

}  // namespace

TEST_CASE("init_ca writes a 10-year EC P-256 CA with a 0600 key", "[ca]") {
  TempDir dir;
  const std::string ca_dir = dir.path() + "/ca";
  std::string err;
  REQUIRE(init_ca(ca_dir, "Mesh CA", "mesh.example", err));
  CHECK(file_mode(ca_dir + "/ca.key") == 0600);
  X509Ptr ca = first_cert(ca_dir + "/ca.pem");
  CHECK(subject_string(ca.get()) == "CN=Mesh CA");
  CHECK(X509_check_ca(ca.get()) != 0);
  CHECK((X509_get_extension_flags(ca.get()) & EXFLAG_CA) != 0);
  CHECK((X509_get_key_usage(ca.get()) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) ==
        (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  const int bc = X509_get_ext_by_NID(ca.get(), NID_basic_constraints, -1);
  REQUIRE(bc >= 0);
  CHECK(X509_EXTENSION_get_critical(X509_get_ext(ca.get(), bc)) == 1);
  const KeyInfo k = key_info(X509_get0_pubkey(ca.get()));
  CHECK(k.type == "EC");
  CHECK(k.curve == "P-256");
  const std::int64_t years = (not_after_unix(ca.get()) - std::time(nullptr)) / (365 * 86400);
  CHECK(years >= 9);
  CHECK(years <= 10);
  CHECK(uri_sans(ca.get()) == std::vector<std::string>{"spiffe://mesh.example"});
  CHECK(verify_against(ca.get(), ca.get()) == X509_V_OK);

  SECTION("refuses to overwrite") {
    CHECK_FALSE(init_ca(ca_dir, "Other", "", err));
    CHECK(err.find("ca.key") != std::string::npos);
  }
}

TEST_CASE("issue writes leaf+CA chain and a matching 0600 key", "[ca]") {
  TempDir dir;
  const std::string ca_dir = dir.path() + "/ca";
  std::string err;
  REQUIRE(init_ca(ca_dir, "Mesh CA", "mesh.example", err));
  IssueOptions o;
  o.ca_dir = ca_dir;
  o.out_prefix = dir.path() + "/svc";
  o.dns = {"svc.example", "alt.example"};
  o.spiffe = "spiffe://mesh.example/ns/acme/sa/svc";
  o.ip = {"10.0.0.1"};
  o.days = 30;
  INFO(err);
  REQUIRE(issue(o, err));
  CHECK(file_mode(dir.path() + "/svc.key") == 0600);

  Chain chain;
  LoadError lerr;
  REQUIRE(load_chain(dir.path() + "/svc.pem", chain, lerr));
  REQUIRE(chain.certs.size() == 2);
  X509* leaf = chain.certs[0].get();
  X509* ca = chain.certs[1].get();
  CHECK(verify_against(leaf, ca) == X509_V_OK);
  CHECK(dns_sans(leaf) == std::vector<std::string>{"svc.example", "alt.example"});
  CHECK(uri_sans(leaf) == std::vector<std::string>{"spiffe://mesh.example/ns/acme/sa/svc"});
  CHECK(ip_sans(leaf) == std::vector<std::string>{"10.0.0.1"});
  CHECK(subject_string(leaf) == "CN=svc.example");
  CHECK((X509_get_extended_key_usage(leaf) & (XKU_SSL_SERVER | XKU_SSL_CLIENT)) ==
        (XKU_SSL_SERVER | XKU_SSL_CLIENT));
  CHECK(X509_check_ca(leaf) == 0);
  CHECK(X509_get0_subject_key_id(leaf) != nullptr);
  CHECK(X509_get0_authority_key_id(leaf) != nullptr);
  CHECK(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
                              X509_get0_subject_key_id(ca)) == 0);
  const ASN1_INTEGER* serial = X509_get0_serialNumber(leaf);
  CHECK(ASN1_STRING_length(serial) >= 16);
  const std::int64_t days = (not_after_unix(leaf) - std::time(nullptr)) / 86400;
  CHECK((days == 29 || days == 30));

  EvpPkeyPtr key;
  REQUIRE(load_key(dir.path() + "/svc.key", key, lerr));
  CHECK(key_matches(leaf, key.get()));

  SECTION("two issues get different serials") {
    o.out_prefix = dir.path() + "/svc2";
    REQUIRE(issue(o, err));
    X509Ptr other = first_cert(dir.path() + "/svc2.pem");
    CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(other.get()), serial) != 0);
  }
  SECTION("rsa key") {
    o.out_prefix = dir.path() + "/rsa";
    o.key = "rsa";
    REQUIRE(issue(o, err));
    X509Ptr rsa = first_cert(dir.path() + "/rsa.pem");
    const KeyInfo k = key_info(X509_get0_pubkey(rsa.get()));
    CHECK(k.type == "RSA");
    CHECK(k.bits == 2048);
  }
  SECTION("a SPIFFE ID outside the CA's trust domain is refused") {
    o.out_prefix = dir.path() + "/bad";
    o.spiffe = "spiffe://other.example/ns/acme/sa/svc";
    CHECK_FALSE(issue(o, err));
    CHECK(err.find("trust domain") != std::string::npos);
  }
  SECTION("no SAN is refused") {
    IssueOptions empty;
    empty.ca_dir = ca_dir;
    empty.out_prefix = dir.path() + "/none";
    CHECK_FALSE(issue(empty, err));
  }
  SECTION("a bad IP is refused") {
    o.out_prefix = dir.path() + "/badip";
    o.ip = {"10.0.0"};
    CHECK_FALSE(issue(o, err));
    CHECK(err.find("10.0.0") != std::string::npos);
  }
  SECTION("a missing CA is a clear error") {
    o.ca_dir = dir.path() + "/nope";
    CHECK_FALSE(issue(o, err));
    CHECK(err.find("nope/ca.pem") != std::string::npos);
  }
}

TEST_CASE("issue_in_memory: expired, self-signed, serverAuth only", "[ca]") {
  std::string err;
  auto ca = portcullis::certs::testing::make_ca("CA");
  CertSpec spec;
  spec.dns = {"old.example"};
  spec.not_before_offset = -10 * 86400;
  spec.not_after_offset = -86400;
  spec.client_and_server = false;
  IssuedCert old = issue_in_memory(spec, ca.cert.get(), ca.key.get(), err);
  REQUIRE(old);
  CHECK(not_after_unix(old.cert.get()) < std::time(nullptr));
  CHECK(verify_against(old.cert.get(), ca.cert.get()) == X509_V_ERR_CERT_HAS_EXPIRED);
  CHECK((X509_get_extended_key_usage(old.cert.get()) & XKU_SSL_CLIENT) == 0);
  CHECK(subject_string(old.cert.get()).empty());

  CertSpec self;
  self.common_name = "self";
  self.dns = {"self.example"};
  IssuedCert s = issue_in_memory(self, nullptr, nullptr, err);
  REQUIRE(s);
  CHECK(X509_NAME_cmp(X509_get_subject_name(s.cert.get()), X509_get_issuer_name(s.cert.get())) ==
        0);
  CHECK(X509_verify(s.cert.get(), s.key.get()) == 1);
  CHECK(verify_against(s.cert.get(), ca.cert.get()) != X509_V_OK);

  CertSpec bad;
  bad.key = "dsa";
  CHECK_FALSE(issue_in_memory(bad, nullptr, nullptr, err));
  CHECK(err.find("dsa") != std::string::npos);
  CHECK_FALSE(issue_in_memory(self, ca.cert.get(), nullptr, err));
}
