#include <catch2/catch.hpp>

#include "certs/ca.h"
#include "certs/pem.h"
#include "tests/unit/certs/test_util.h"
#include "tls/verify.h"

using namespace portcullis::certs;
using portcullis::certs::testing::make_ca;
using portcullis::certs::testing::make_leaf;
using portcullis::tls::chain_matches_pin;
using portcullis::tls::check_key_strength;
using portcullis::tls::has_uri_san;
using portcullis::tls::KeyProblem;
using portcullis::tls::matches_dns_name;
using portcullis::tls::peer_identity;

namespace {

struct StackFree {
  void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), StackFree>;

X509StackPtr stack_of(std::initializer_list<X509*> certs) {
  X509StackPtr s(sk_X509_new_null());
  for (X509* c : certs) {
    sk_X509_push(s.get(), c);  // borrowed: sk_X509_free does not free the elements
  }
  return s;
}

}  // namespace

TEST_CASE("has_uri_san and peer_identity", "[verify]") {
  IssuedCert ca = make_ca("Mesh", "mesh.example");
  CertSpec spec;
  spec.dns = {"api.acme.svc"};
  spec.uris = {"https://not-spiffe.example/", "spiffe://mesh.example/ns/acme/sa/api"};
  IssuedCert leaf = make_leaf(spec, ca);
  X509* x = leaf.cert.get();
  CHECK(has_uri_san(x, "spiffe://mesh.example/ns/acme/sa/api"));
  CHECK_FALSE(has_uri_san(x, "spiffe://mesh.example/ns/acme/sa/other"));
  CHECK_FALSE(has_uri_san(x, "spiffe://mesh.example/ns/acme/sa/ap"));
  CHECK_FALSE(has_uri_san(x, "spiffe://mesh.example/ns/acme/sa/api/"));
  CHECK_FALSE(has_uri_san(x, "SPIFFE://mesh.example/ns/acme/sa/api"));
  CHECK_FALSE(has_uri_san(x, "api.acme.svc"));  // a DNS SAN is not a URI SAN
  CHECK_FALSE(has_uri_san(x, ""));
  CHECK_FALSE(has_uri_san(nullptr, "spiffe://mesh.example/ns/acme/sa/api"));
  CHECK(peer_identity(x) == "spiffe://mesh.example/ns/acme/sa/api");

  CertSpec dns_only;
  dns_only.dns = {"web.acme.svc", "www.acme.svc"};
  IssuedCert web = make_leaf(dns_only, ca);
  CHECK(peer_identity(web.cert.get()) == "web.acme.svc");
  CHECK_FALSE(has_uri_san(web.cert.get(), "spiffe://mesh.example/ns/acme/sa/api"));

  CertSpec cn_only;
  cn_only.common_name = "cn.acme.svc";
  IssuedCert cn = make_leaf(cn_only, ca);
  CHECK(peer_identity(cn.cert.get()).empty());
  CHECK(peer_identity(nullptr).empty());
}

TEST_CASE("matches_dns_name uses SANs only, wildcards cover one label", "[verify]") {
  IssuedCert ca = make_ca("Public");
  CertSpec spec;
  spec.common_name = "cn-only.example";
  spec.dns = {"shop.acme.test", "*.api.acme.test", "f*.partial.test"};
  spec.ips = {"192.0.2.7", "2001:db8::7"};
  IssuedCert leaf = make_leaf(spec, ca);
  X509* x = leaf.cert.get();
  CHECK(matches_dns_name(x, "shop.acme.test"));
  CHECK(matches_dns_name(x, "SHOP.ACME.TEST"));
  CHECK(matches_dns_name(x, "shop.acme.test."));
  CHECK(matches_dns_name(x, "v1.api.acme.test"));
  CHECK_FALSE(matches_dns_name(x, "a.v1.api.acme.test"));
  CHECK_FALSE(matches_dns_name(x, "api.acme.test"));
  CHECK_FALSE(matches_dns_name(x, "foo.partial.test"));  // no partial wildcards
  CHECK_FALSE(matches_dns_name(x, "cn-only.example"));   // CN ignored when SANs exist
  CHECK_FALSE(matches_dns_name(x, "other.acme.test"));
  CHECK_FALSE(matches_dns_name(x, ""));
  CHECK_FALSE(matches_dns_name(x, std::string_view("shop.acme.test\0x", 16)));
  CHECK(matches_dns_name(x, "192.0.2.7"));
  CHECK(matches_dns_name(x, "[2001:db8::7]"));
  CHECK_FALSE(matches_dns_name(x, "192.0.2.8"));
  CHECK_FALSE(matches_dns_name(nullptr, "shop.acme.test"));

  CertSpec cn_only;
  cn_only.common_name = "legacy.acme.test";
  IssuedCert cn = make_leaf(cn_only, ca);
  CHECK_FALSE(matches_dns_name(cn.cert.get(), "legacy.acme.test"));
}

TEST_CASE("chain_matches_pin", "[verify]") {
  IssuedCert ca = make_ca("Root");
  CertSpec spec;
  spec.dns = {"api.partner.example"};
  IssuedCert leaf = make_leaf(spec, ca);
  IssuedCert other = make_ca("Other");
  X509StackPtr chain = stack_of({leaf.cert.get(), ca.cert.get()});
  const std::string leaf_pin = spki_pin(leaf.cert.get());
  const std::string ca_pin = spki_pin(ca.cert.get());
  const std::string other_pin = spki_pin(other.cert.get());
  CHECK(chain_matches_pin(chain.get(), {leaf_pin}));
  CHECK(chain_matches_pin(chain.get(), {other_pin, ca_pin}));
  CHECK_FALSE(chain_matches_pin(chain.get(), {other_pin}));
  CHECK_FALSE(chain_matches_pin(chain.get(), {"sha256/AAAA"}));
  CHECK_FALSE(chain_matches_pin(chain.get(), {leaf_pin.substr(7)}));  // needs the prefix
  CHECK(chain_matches_pin(chain.get(), {}));
  CHECK_FALSE(chain_matches_pin(nullptr, {leaf_pin}));
  X509StackPtr empty = stack_of({});
  CHECK_FALSE(chain_matches_pin(empty.get(), {leaf_pin}));
}

TEST_CASE("check_key_strength", "[verify]") {
  IssuedCert ca = make_ca("CA");
  CertSpec spec;
  spec.dns = {"k.example"};
  CHECK(check_key_strength(make_leaf(spec, ca).cert.get()) == KeyProblem::none);
  spec.curve = "P-384";
  CHECK(check_key_strength(make_leaf(spec, ca).cert.get()) == KeyProblem::none);
  spec.curve = "P-521";
  CHECK(check_key_strength(make_leaf(spec, ca).cert.get()) == KeyProblem::unknown_curve);
  spec.key = "rsa";
  spec.rsa_bits = 1024;
  CHECK(check_key_strength(make_leaf(spec, ca).cert.get()) == KeyProblem::rsa_too_small);
  spec.rsa_bits = 2048;
  CHECK(check_key_strength(make_leaf(spec, ca).cert.get()) == KeyProblem::none);
  spec.key = "ed25519";
  CHECK(check_key_strength(make_leaf(spec, ca).cert.get()) == KeyProblem::none);
  CHECK(check_key_strength(nullptr) == KeyProblem::unsupported_type);
  CHECK(portcullis::tls::to_string(KeyProblem::rsa_too_small) == "rsa_too_small");
}
