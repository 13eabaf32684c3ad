#include <catch2/catch.hpp>

#include <string>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "certs/pem.h"
#include "gateway/acme/http.h"
#include "gateway/acme/jws.h"
#include "gateway/acme/manager.h"
#include "gateway/config/config.h"
#include "tests/unit/config/tmp_dir.h"

namespace acme = portcullis::gateway::acme;
namespace cfg = portcullis::gateway::config;
using portcullis::test::TmpDir;

namespace {

// ES256's r || s back to DER, and verified with the key's public half.
bool verify_es256(EVP_PKEY* key, const std::string& input, const std::string& raw) {
  if (raw.size() != 64) {
    return false;
  }
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr),
                 BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr));
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  const bool ok = EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(md, der, static_cast<std::size_t>(len),
                                   reinterpret_cast<const unsigned char*>(input.data()),
                                   input.size()) == 1;
  EVP_MD_CTX_free(md);
  OPENSSL_free(der);
  return ok;
}

const char* const kGateway = R"([gateway]
tenants_dir = "tenants.d"

[[listener]]
name = "public"
kind = "ingress"
address = "127.0.0.1:8443"

[[listener]]
name = "plain"
kind = "http"
address = "127.0.0.1:8080"
)";

const char* const kAcmeSection = R"(
[acme]
directory = "https://ca.example/dir"
state_dir = "acme-state"
contact = ["mailto:ops@example.com"]
)";

std::string tenant(const std::string& hosts, const std::string& tls) {
  return "name = \"a\"\nhosts = " + hosts + "\n\n[tls]\n" + tls +
         "\n\n[[route]]\npath_prefix = \"/\"\ndirect_response = \"x\"\n";
}

bool has_error(const cfg::LoadResult& r, const std::string& part) {
  for (const auto& d : r.diagnostics) {
    if (d.severity == cfg::Diagnostic::Severity::error && d.message.find(part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("base64url without padding, both ways") {
  CHECK(acme::b64url("") == "");
  CHECK(acme::b64url("f") == "Zg");
  CHECK(acme::b64url("foobar") == "Zm9vYmFy");
  CHECK(acme::b64url(std::string("\xfb\xff", 2)) == "-_8");
  CHECK(acme::b64url_decode("Zm9vYmFy") == "foobar");
  CHECK(acme::b64url_decode("-_8") == std::string("\xfb\xff", 2));
  CHECK(acme::b64url_decode("not base64!") == "");
}

TEST_CASE("JWS ES256: verifiable r||s signature, jwk or kid in the protected header") {
  auto key = acme::new_p256_key();
  REQUIRE(key);
  for (const std::string kid : {"", "https://ca.example/acct/1"}) {
    const auto jws = nlohmann::json::parse(
        acme::jws_es256(key.get(), kid, "nonce-1", "https://ca.example/new-order", "{\"a\":1}"));
    const std::string prot = jws["protected"];
    const std::string payload = jws["payload"];
    const auto header = nlohmann::json::parse(acme::b64url_decode(prot));
    CHECK(header["alg"] == "ES256");
    CHECK(header["nonce"] == "nonce-1");
    CHECK(header["url"] == "https://ca.example/new-order");
    CHECK(header.contains("jwk") == kid.empty());
    CHECK(header.contains("kid") == !kid.empty());
    CHECK(acme::b64url_decode(payload) == "{\"a\":1}");
    CHECK(verify_es256(key.get(), prot + "." + payload,
                       acme::b64url_decode(jws["signature"].get<std::string>())));
    // A signature over other bytes must not verify (the check above can fail).
    CHECK_FALSE(verify_es256(key.get(), prot + ".x",
                             acme::b64url_decode(jws["signature"].get<std::string>())));
  }
  // POST-as-GET: an empty payload stays empty.
  const auto get = nlohmann::json::parse(acme::jws_es256(key.get(), "k", "n", "u", ""));
  CHECK(get["payload"] == "");
}

TEST_CASE("JWK thumbprint is over the RFC 7638 member order without spaces") {
  auto key = acme::new_p256_key();
  const auto j = acme::jwk(key.get());
  const std::string canonical = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" +
                                j["x"].get<std::string>() + "\",\"y\":\"" +
                                j["y"].get<std::string>() + "\"}";
  unsigned char digest[32];
  EVP_Digest(canonical.data(), canonical.size(), digest, nullptr, EVP_sha256(), nullptr);
  CHECK(acme::thumbprint(key.get()) ==
        acme::b64url(std::string(reinterpret_cast<char*>(digest), 32)));
  CHECK(acme::b64url_decode(j["x"].get<std::string>()).size() == 32);
}

TEST_CASE("the CSR names every host and is signed by the tenant key") {
  auto key = acme::new_p256_key();
  const std::string der = acme::csr_der(key.get(), {"a.example", "b.example"});
  REQUIRE_FALSE(der.empty());
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size()));
  REQUIRE(req != nullptr);
  CHECK(X509_REQ_verify(req, key.get()) == 1);
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  auto* sans = static_cast<GENERAL_NAMES*>(X509V3_get_d2i(exts, NID_subject_alt_name, nullptr,
                                                          nullptr));
  REQUIRE(sans != nullptr);
  CHECK(sk_GENERAL_NAME_num(sans) == 2);
  GENERAL_NAMES_free(sans);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_free(req);
}

TEST_CASE("TLS-ALPN-01 certificate: the host and a critical acmeIdentifier digest") {
  std::string err;
  auto ctx = acme::tls_alpn_context("a.example", "token.thumb", err);
  REQUIRE(ctx);
  X509* cert = SSL_CTX_get0_certificate(ctx.get());
  REQUIRE(cert != nullptr);
  CHECK(portcullis::certs::dns_sans(cert) == std::vector<std::string>{"a.example"});
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  const int at = X509_get_ext_by_OBJ(cert, oid, -1);
  ASN1_OBJECT_free(oid);
  REQUIRE(at >= 0);
  X509_EXTENSION* ext = X509_get_ext(cert, at);
  CHECK(X509_EXTENSION_get_critical(ext) == 1);
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(ext);
  unsigned char digest[32];
  EVP_Digest("token.thumb", 11, digest, nullptr, EVP_sha256(), nullptr);
  // DER OCTET STRING: 04 20 then the 32 bytes.
  REQUIRE(ASN1_STRING_length(value) == 34);
  const unsigned char* d = ASN1_STRING_get0_data(value);
  CHECK(d[0] == 0x04);
  CHECK(d[1] == 0x20);
  CHECK(std::string(reinterpret_cast<const char*>(d + 2), 32) ==
        std::string(reinterpret_cast<char*>(digest), 32));
}

TEST_CASE("backoff doubles from the base and stops at the cap") {
  using std::chrono::seconds;
  CHECK(acme::Manager::backoff(1, seconds(30), seconds(3600)) == seconds(30));
  CHECK(acme::Manager::backoff(2, seconds(30), seconds(3600)) == seconds(60));
  CHECK(acme::Manager::backoff(5, seconds(30), seconds(3600)) == seconds(480));
  CHECK(acme::Manager::backoff(8, seconds(30), seconds(3600)) == seconds(3600));
  CHECK(acme::Manager::backoff(100, seconds(30), seconds(3600)) == seconds(3600));
}

TEST_CASE("Retry-After: seconds or an HTTP date; nonsense is 0") {
  CHECK(acme::parse_retry_after("120") == std::chrono::seconds(120));
  CHECK(acme::parse_retry_after("") == std::chrono::seconds(0));
  CHECK(acme::parse_retry_after("soon") == std::chrono::seconds(0));
  CHECK(acme::parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == std::chrono::seconds(0));
}

TEST_CASE("[acme] and [tls] acme = true") {
  TmpDir dir;
  SECTION("cert and key live in the state directory; kind = http is a listener kind") {
    dir.write("gateway.toml", std::string(kGateway) + kAcmeSection);
    dir.write("tenants.d/a.toml", tenant("[\"a.example\"]", "acme = true"));
    const auto r = cfg::load(dir.path("gateway.toml"));
    REQUIRE(r.ok());
    const auto& c = *r.config;
    CHECK(c.acme.enabled);
    CHECK(c.acme.challenge == "http-01");
    CHECK(c.acme.state_dir == dir.path("acme-state"));
    CHECK(c.listeners[1].kind == cfg::ListenerConfig::Kind::http);
    REQUIRE(c.tenants.size() == 1);
    CHECK(c.tenants[0].acme);
    CHECK(c.tenants[0].cert == dir.path("acme-state/certs/a.crt"));
    CHECK(c.tenants[0].key == dir.path("acme-state/certs/a.key"));
  }
  SECTION("wildcard hosts are refused (no DNS-01)") {
    dir.write("gateway.toml", std::string(kGateway) + kAcmeSection);
    dir.write("tenants.d/a.toml", tenant("[\"*.a.example\"]", "acme = true"));
    CHECK(has_error(cfg::load(dir.path("gateway.toml")), "wildcard"));
  }
  SECTION("acme = true needs [acme], and replaces cert and key") {
    dir.write("gateway.toml", kGateway);
    dir.write("tenants.d/a.toml", tenant("[\"a.example\"]", "acme = true"));
    CHECK(has_error(cfg::load(dir.path("gateway.toml")), "needs an [acme] section"));
    dir.write("gateway.toml", std::string(kGateway) + kAcmeSection);
    dir.write("tenants.d/a.toml",
              tenant("[\"a.example\"]", "acme = true\ncert = \"a.pem\"\nkey = \"a.key\""));
    CHECK(has_error(cfg::load(dir.path("gateway.toml")), "takes the place of cert and key"));
  }
  SECTION("[acme] is checked") {
    dir.write("gateway.toml", std::string(kGateway) +
                                  "\n[acme]\ndirectory = \"http://ca.example/dir\"\n"
                                  "challenge = \"dns-01\"\neab_kid = \"k\"\n");
    const auto r = cfg::load(dir.path("gateway.toml"));
    CHECK(has_error(r, "must be an https URL"));
    CHECK(has_error(r, "needs state_dir"));
    CHECK(has_error(r, "challenge = \"dns-01\" is not valid"));
    CHECK(has_error(r, "both eab_kid and eab_hmac_key"));
  }
}

TEST_CASE("placeholders: written once for ACME tenants without files, key mode 0600") {
  TmpDir dir;
  dir.write("gateway.toml", std::string(kGateway) + kAcmeSection);
  dir.write("tenants.d/a.toml", tenant("[\"a.example\"]", "acme = true"));
  const auto r = cfg::load(dir.path("gateway.toml"));
  REQUIRE(r.ok());
  cfg::ensure_acme_placeholders(*r.config);
  portcullis::certs::Chain chain;
  portcullis::certs::LoadError le;
  REQUIRE(portcullis::certs::load_chain(r.config->tenants[0].cert, chain, le));
  CHECK(portcullis::certs::subject_string(chain.certs[0].get()).find(cfg::kAcmePlaceholderOrg) !=
        std::string::npos);
  struct stat st {};
  REQUIRE(::stat(r.config->tenants[0].key.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}
