// Server leaf rules on the client side (egress and mesh): a leaf that is a CA, and an EKU without
// serverAuth, are refused during real in-memory handshakes against certificates made here.
#include <catch2/catch.hpp>

#include <string>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certs/pem.h"
#include "tests/unit/certs/test_util.h"
#include "tls/context.h"
#include "tls/stream.h"
#include "tls/verify.h"

namespace portcullis::tls {
namespace {

using certs::testing::TempDir;

// Replaces (or, with an empty value, removes) one extension of the leaf and signs it again with
// the CA key.
void replace_ext(certs::IssuedCert& leaf, const certs::IssuedCert& ca, int nid,
                 const char* value) {
  X509* x = leaf.cert.get();
  const int at = X509_get_ext_by_NID(x, nid, -1);
  REQUIRE(at >= 0);
  X509_EXTENSION_free(X509_delete_ext(x, at));
  if (value[0] != '\0') {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, ca.cert.get(), x, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    REQUIRE(ext != nullptr);
    REQUIRE(X509_add_ext(x, ext, -1) == 1);
    X509_EXTENSION_free(ext);
  }
  REQUIRE(X509_sign(x, ca.key.get(), EVP_sha256()) > 0);
}

void set_eku(certs::IssuedCert& leaf, const certs::IssuedCert& ca, const char* value) {
  replace_ext(leaf, ca, NID_ext_key_usage, value);
}

// A PEM round trip: OpenSSL caches extension flags in the X509 it parsed, so a certificate
// edited in memory is checked as a peer would see it.
certs::X509Ptr reparsed(X509* x) {
  certs::BioPtr bio(BIO_new(BIO_s_mem()));
  REQUIRE(PEM_write_bio_X509(bio.get(), x) == 1);
  certs::X509Ptr out(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(out);
  return out;
}

struct Pki {
  TempDir dir;
  certs::IssuedCert ca = certs::testing::make_ca("Leaf Rules CA");
  std::string ca_pem = dir.path() + "/ca.pem";

  Pki() {
    std::string err;
    REQUIRE(certs::write_certs_pem(ca_pem, {ca.cert.get()}, err));
  }
  // is_ca: CA:TRUE with keyCertSign, and digitalSignature too, so that OpenSSL's own TLS
  // server purpose check (which wants a TLS key usage) passes and only the CA marking is wrong.
  certs::IssuedCert leaf(bool is_ca) const {
    certs::CertSpec spec;
    spec.common_name = "server.example.com";
    spec.dns = {"server.example.com"};
    spec.is_ca = is_ca;
    certs::IssuedCert out = certs::testing::make_leaf(spec, ca);
    if (is_ca) {
      replace_ext(out, ca, NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign");
    }
    return out;
  }
  // A server context presenting `leaf` (chain: leaf, CA).
  SslCtxPtr server(const certs::IssuedCert& leaf, const std::string& name) const {
    std::string err;
    const std::string chain = dir.path() + "/" + name + ".pem";
    const std::string key = dir.path() + "/" + name + ".key";
    REQUIRE(certs::write_certs_pem(chain, {leaf.cert.get(), ca.cert.get()}, err));
    REQUIRE(certs::write_key_pem(key, leaf.key.get(), err));
    ServerContextSpec spec;
    spec.cert_chain = chain;
    spec.key = key;
    spec.session_id_context = "t";
    ContextResult r = make_server_context(spec);
    INFO(r.error);
    REQUIRE(r.ctx);
    return std::move(r.ctx);
  }
};

struct Result {
  bool ok = false;
  long verify = X509_V_OK;  // the client's SSL_get_verify_result
};

// One handshake, pumped in memory. `openssl_only`: the client context's verify callback is
// replaced by one that adds nothing, to show what OpenSSL accepts without our rules.
Result handshake(SSL_CTX* server_ctx, const Pki& pki, bool openssl_only = false) {
  ClientContextSpec cspec;
  cspec.ca_bundle = pki.ca_pem;
  ContextResult c = make_client_context(cspec);
  INFO(c.error);
  REQUIRE(c.ctx);
  SslPtr cssl(SSL_new(c.ctx.get()));
  SslPtr sssl(SSL_new(server_ctx));
  REQUIRE(cssl);
  REQUIRE(sssl);
  REQUIRE(SSL_set_tlsext_host_name(cssl.get(), "server.example.com") == 1);
  if (openssl_only) {
    // SSL_set_verify ignores a null callback, so pass one that keeps OpenSSL's verdict.
    SSL_set_verify(cssl.get(), SSL_VERIFY_PEER,
                   [](int preverify_ok, X509_STORE_CTX*) { return preverify_ok; });
  }
  TlsStream client(std::move(cssl), Role::client);
  TlsStream server(std::move(sssl), Role::server);
  client.start();
  for (int round = 0; round < 20; ++round) {
    std::string bytes;
    client.take_output(bytes);
    if (!bytes.empty()) {
      server.feed(bytes);
    }
    bytes.clear();
    server.take_output(bytes);
    if (!bytes.empty()) {
      client.feed(bytes);
    }
    if (client.failure() != Failure::none || server.failure() != Failure::none ||
        (client.established() && server.established())) {
      break;
    }
  }
  UNSCOPED_INFO("client: " << client.failure_detail());
  return Result{client.established() && server.established(),
                SSL_get_verify_result(client.ssl())};
}

}  // namespace

TEST_CASE("check_server_leaf: CA leaves and EKUs without serverAuth", "[verify]") {
  Pki pki;
  certs::IssuedCert normal = pki.leaf(false);
  CHECK(check_server_leaf(normal.cert.get()) == LeafProblem::none);
  certs::IssuedCert ca_leaf = pki.leaf(true);
  CHECK(check_server_leaf(ca_leaf.cert.get()) == LeafProblem::leaf_is_ca);
  CHECK(check_server_leaf(pki.ca.cert.get()) == LeafProblem::leaf_is_ca);

  struct Case {
    const char* eku;
    LeafProblem want;
  };
  for (const Case& c : {Case{"nsSGC,msSGC", LeafProblem::no_server_auth},
                        Case{"clientAuth", LeafProblem::no_server_auth},
                        Case{"anyExtendedKeyUsage", LeafProblem::no_server_auth},
                        Case{"msSGC,serverAuth", LeafProblem::none},
                        Case{"", LeafProblem::none}}) {  // no EKU at all
    INFO("EKU " << c.eku);
    certs::IssuedCert leaf = pki.leaf(false);
    set_eku(leaf, pki.ca, c.eku);
    CHECK(check_server_leaf(reparsed(leaf.cert.get()).get()) == c.want);
  }
  CHECK(check_server_leaf(nullptr) == LeafProblem::none);
}

TEST_CASE("client contexts refuse a leaf that is a CA", "[verify]") {
  Pki pki;
  SslCtxPtr normal = pki.server(pki.leaf(false), "normal");
  SslCtxPtr ca_leaf = pki.server(pki.leaf(true), "ca-leaf");

  Result ok = handshake(normal.get(), pki);
  CHECK(ok.ok);
  CHECK(ok.verify == X509_V_OK);
  // OpenSSL alone accepts it: the refusal below is ours.
  CHECK(handshake(ca_leaf.get(), pki, true).ok);
  Result refused = handshake(ca_leaf.get(), pki);
  CHECK_FALSE(refused.ok);
  CHECK(refused.verify == kVerifyLeafIsCa);
}

TEST_CASE("client contexts refuse a server EKU without serverAuth", "[verify]") {
  Pki pki;
  certs::IssuedCert sgc = pki.leaf(false);
  set_eku(sgc, pki.ca, "nsSGC,msSGC");
  SslCtxPtr sgc_ctx = pki.server(sgc, "sgc");
  certs::IssuedCert no_eku = pki.leaf(false);
  set_eku(no_eku, pki.ca, "");
  SslCtxPtr no_eku_ctx = pki.server(no_eku, "no-eku");

  CHECK(handshake(sgc_ctx.get(), pki, true).ok);  // OpenSSL's SSL_SERVER purpose takes SGC
  Result refused = handshake(sgc_ctx.get(), pki);
  CHECK_FALSE(refused.ok);
  CHECK(refused.verify == kVerifyNoServerAuth);
  Result absent = handshake(no_eku_ctx.get(), pki);
  CHECK(absent.ok);  // no EKU means no restriction
  CHECK(absent.verify == X509_V_OK);
}

}  // namespace portcullis::tls
