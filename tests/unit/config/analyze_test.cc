#include <catch2/catch.hpp>

#include <ctime>
#include <sstream>
#include <string>

#include "certs/ca.h"
#include "gateway/config/analyze.h"
#include "gateway/config/check.h"
#include "gateway/config/config.h"
#include "tests/unit/config/tmp_dir.h"

namespace cfg = portcullis::gateway::config;
namespace certs = portcullis::certs;
using cfg::Diagnostic;
using portcullis::test::TmpDir;

namespace {

// A CA plus helpers that write leaf certificates and keys into a TmpDir.
class Pki {
 public:
  explicit Pki(TmpDir& dir) : dir_(dir) {
    certs::CertSpec ca;
    ca.common_name = "Test CA";
    ca.uris = {"spiffe://mesh.example"};
    ca.is_ca = true;
    ca.not_after_offset = 3650LL * 86400;
    std::string err;
    ca_ = certs::issue_in_memory(ca, nullptr, nullptr, err);
    REQUIRE(ca_);
    std::filesystem::create_directories(dir.path("mesh"));
    std::filesystem::create_directories(dir.path("certs"));
    REQUIRE(certs::write_certs_pem(dir.path("mesh/ca.pem"), {ca_.cert.get()}, err));
  }

  // Writes REL.pem and REL.key; returns the issued pair.
  certs::IssuedCert write(const std::string& rel, certs::CertSpec spec) {
    std::string err;
    auto c = certs::issue_in_memory(spec, ca_.cert.get(), ca_.key.get(), err);
    REQUIRE(c);
    REQUIRE(certs::write_certs_pem(dir_.path(rel + ".pem"), {c.cert.get(), ca_.cert.get()}, err));
    REQUIRE(certs::write_key_pem(dir_.path(rel + ".key"), c.key.get(), err));
    return c;
  }

 private:
  TmpDir& dir_;
  certs::IssuedCert ca_;
};

certs::CertSpec dns(std::vector<std::string> names) {
  certs::CertSpec s;
  s.dns = std::move(names);
  return s;
}

const char* const kGateway = R"([gateway]
tenants_dir = "tenants.d"

[admin]
listen = "127.0.0.1:0"

[mesh]
trust_domain = "mesh.example"
ca = "mesh/ca.pem"
cert = "mesh/gw.pem"
key = "mesh/gw.key"

[[listener]]
name = "public"
kind = "ingress"
address = "0.0.0.0:0"
)";

const char* const kAcme = R"(name = "acme"
hosts = ["shop.acme.example", "*.api.acme.example"]
[tls]
cert = "../certs/acme.pem"
key = "../certs/acme.key"
[[route]]
path_prefix = "/"
cluster = "api"
[cluster.api]
endpoints = ["10.0.0.1:8443"]
identity = "spiffe://mesh.example/ns/acme/sa/api"
)";

void write_good(TmpDir& dir, Pki& pki) {
  dir.write("gateway.toml", kGateway);
  dir.write("tenants.d/acme.toml", kAcme);
  certs::CertSpec gw;
  gw.uris = {"spiffe://mesh.example/ns/gateway/sa/portcullis"};
  pki.write("mesh/gw", gw);
  pki.write("certs/acme", dns({"shop.acme.example", "*.api.acme.example"}));
}

std::vector<Diagnostic> run(TmpDir& dir, std::int64_t now = std::time(nullptr)) {
  auto r = cfg::load(dir.path("gateway.toml"));
  std::string all;
  for (const auto& d : r.diagnostics) {
    all += d.format() + "\n";
  }
  INFO(all);
  REQUIRE(r.ok());
  return cfg::analyze(*r.config, now);
}

std::string dump(const std::vector<Diagnostic>& ds) {
  std::string s;
  for (const auto& d : ds) {
    s += d.format() + "\n";
  }
  return s;
}

const Diagnostic* find(const std::vector<Diagnostic>& ds, Diagnostic::Severity sev,
                       const std::string& file_suffix, int line, const std::string& text) {
  for (const auto& d : ds) {
    if (d.severity == sev && d.pos.file.ends_with(file_suffix) && d.pos.line == line &&
        d.message.find(text) != std::string::npos) {
      return &d;
    }
  }
  return nullptr;
}

constexpr auto kError = Diagnostic::Severity::error;
constexpr auto kWarning = Diagnostic::Severity::warning;

}  // namespace

TEST_CASE("analyze: a sound configuration has nothing to say", "[config][analyze]") {
  TmpDir dir;
  Pki pki(dir);
  write_good(dir, pki);
  const auto ds = run(dir);
  INFO(dump(ds));
  CHECK(ds.empty());

  std::ostringstream out;
  CHECK(cfg::run_check(dir.path("gateway.toml"), out) == 0);
  CHECK(out.str() == "ok: 1 tenants, 1 listeners, 0 warnings\n");
}

TEST_CASE("analyze: unreadable files and mismatched keys are errors", "[config][analyze]") {
  TmpDir dir;
  Pki pki(dir);
  write_good(dir, pki);
  // The acme key now belongs to another certificate.
  pki.write("certs/other", dns({"shop.acme.example"}));
  std::filesystem::copy_file(dir.path("certs/other.key"), dir.path("certs/acme.key"),
                             std::filesystem::copy_options::overwrite_existing);
  dir.write("mesh/gw.pem", "not a certificate\n");
  auto ds = run(dir);
  INFO(dump(ds));
  CHECK(find(ds, kError, "acme.toml", 5, "does not match certificate") != nullptr);
  CHECK(find(ds, kError, "gateway.toml", 10, "[mesh] certificate") != nullptr);
  CHECK(ds.size() == 2);

  std::ostringstream out;
  CHECK(cfg::run_check(dir.path("gateway.toml"), out) == 1);
  CHECK(out.str().ends_with("2 errors, 0 warnings\n"));
}

TEST_CASE("analyze: expired is an error, expiring within 30 days a warning", "[config][analyze]") {
  TmpDir dir;
  Pki pki(dir);
  write_good(dir, pki);
  auto spec = dns({"shop.acme.example", "*.api.acme.example"});
  spec.not_before_offset = -10 * 86400;
  spec.not_after_offset = -86400;
  pki.write("certs/acme", spec);
  auto ds = run(dir);
  INFO(dump(ds));
  CHECK(find(ds, kError, "acme.toml", 4, "expired on") != nullptr);

  spec.not_after_offset = 10 * 86400;
  pki.write("certs/acme", spec);
  ds = run(dir);
  INFO(dump(ds));
  CHECK(find(ds, kWarning, "acme.toml", 4, "expires within 30 days") != nullptr);
  CHECK(ds.size() == 1);
  // Judged against a later "now", the same certificate is expired.
  ds = run(dir, std::time(nullptr) + 11 * 86400);
  CHECK(find(ds, kError, "acme.toml", 4, "expired on") != nullptr);
}

TEST_CASE("analyze: weak keys are warnings", "[config][analyze]") {
  TmpDir dir;
  Pki pki(dir);
  write_good(dir, pki);
  auto spec = dns({"shop.acme.example", "*.api.acme.example"});
  spec.key = "rsa";
  spec.rsa_bits = 1024;
  pki.write("certs/acme", spec);
  certs::CertSpec gw;
  gw.uris = {"spiffe://mesh.example/ns/gateway/sa/portcullis"};
  gw.curve = "P-521";
  pki.write("mesh/gw", gw);
  auto ds = run(dir);
  INFO(dump(ds));
  CHECK(find(ds, kWarning, "acme.toml", 5, "key is weak (RSA 1024 bits)") != nullptr);
  CHECK(find(ds, kWarning, "gateway.toml", 11, "key is weak (EC P-521)") != nullptr);
  CHECK(ds.size() == 2);
}

TEST_CASE("analyze: tenant certificate must cover its hosts", "[config][analyze]") {
  TmpDir dir;
  Pki pki(dir);
  write_good(dir, pki);
  pki.write("certs/acme", dns({"*.acme.example"}));  // covers shop., not *.api.
  auto ds = run(dir);
  INFO(dump(ds));
  REQUIRE(ds.size() == 1);
  CHECK(find(ds, kWarning, "acme.toml", 2, "\"*.api.acme.example\" is not covered") != nullptr);
  CHECK(ds[0].pos.col == 31);
}

TEST_CASE("analyze: policy warnings", "[config][analyze]") {
  TmpDir dir;
  Pki pki(dir);
  write_good(dir, pki);
  std::string gw = kGateway;
  gw.replace(gw.find("127.0.0.1:0"), 11, "0.0.0.0:9901");
  gw += R"(
[[listener]]
name = "egress"
kind = "egress"
address = "0.0.0.0:15001"
client_auth = "none"

[[egress]]
host = "api.partner.example"
allow = ["*"]
allow_private = true

[limits]
memory_budget = "off"
)";
  dir.write("gateway.toml", gw);
  dir.write("tenants.d/acme.toml", std::string(kAcme) + R"(
[cluster.legacy]
endpoints = ["10.0.0.2:80"]
plaintext = true
)");
  // Another tenant owns a wildcard that covers acme's exact name.
  dir.write("tenants.d/zeta.toml", R"(name = "zeta"
hosts = ["*.acme.example"]
[tls]
cert = "../certs/zeta.pem"
key = "../certs/zeta.key"
)");
  pki.write("certs/zeta", dns({"*.acme.example"}));
  auto ds = run(dir);
  INFO(dump(ds));
  CHECK(find(ds, kWarning, "gateway.toml", 5, "admin listens on non-loopback") != nullptr);
  CHECK(find(ds, kWarning, "gateway.toml", 18,
             "egress listener \"egress\" takes unauthenticated") != nullptr);
  CHECK(find(ds, kWarning, "gateway.toml", 24, "allowed for any mesh identity") != nullptr);
  CHECK(find(ds, kWarning, "gateway.toml", 24, "private and loopback") != nullptr);
  CHECK(find(ds, kWarning, "acme.toml", 13, "cluster \"legacy\" of tenant \"acme\" is plaintext") !=
        nullptr);
  const auto* overlap = find(ds, kWarning, "acme.toml", 2, "also covered by \"*.acme.example\"");
  REQUIRE(overlap != nullptr);
  CHECK(overlap->message.find("zeta.toml:2:10") != std::string::npos);
  CHECK(find(ds, kWarning, "gateway.toml", 30, "memory_budget is off") != nullptr);
  CHECK(ds.size() == 7);

  std::ostringstream out;
  CHECK(cfg::run_check(dir.path("gateway.toml"), out) == 0);
  CHECK(out.str().ends_with("ok: 2 tenants, 2 listeners, 7 warnings\n"));
}

TEST_CASE("run_check reports load errors with exit status 1", "[config][analyze]") {
  TmpDir dir;
  dir.write("gateway.toml", "[gateway]\nworkers = \"many\"\n");
  std::ostringstream out;
  CHECK(cfg::run_check(dir.path("gateway.toml"), out) == 1);
  CHECK(out.str() == dir.path("gateway.toml") +
                         ":2:11: error: 'workers' must be an integer, not a string\n"
                         "1 error, 0 warnings\n");
}
