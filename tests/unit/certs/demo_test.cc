#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "certs/pem.h"
#include "gateway/runtime/demo.h"
#include "tests/unit/certs/test_util.h"

using namespace portcullis::certs;
using portcullis::certs::testing::TempDir;
using portcullis::certs::testing::verify_against;
using portcullis::gateway::runtime::demo_instructions;
using portcullis::gateway::runtime::DemoLayout;
using portcullis::gateway::runtime::write_demo;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

Chain chain_of(const std::string& path) {
  Chain c;
  LoadError err;
  INFO(err.message);
  REQUIRE(load_chain(path, c, err));
  return c;
}

// Loads PREFIX.pem/PREFIX.key, checks key match, and that the leaf chains to the CA in ca_path.
Chain check_leaf(const std::string& prefix, const std::string& ca_path) {
  INFO(prefix);
  Chain c = chain_of(prefix + ".pem");
  REQUIRE(c.certs.size() == 2);
  EvpPkeyPtr key;
  LoadError err;
  REQUIRE(load_key(prefix + ".key", key, err));
  CHECK(key_matches(c.certs[0].get(), key.get()));
  struct stat st {};
  REQUIRE(::stat((prefix + ".key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  Chain ca = chain_of(ca_path);
  CHECK(verify_against(c.certs[0].get(), ca.certs[0].get()) == X509_V_OK);
  CHECK(X509_cmp(c.certs[1].get(), ca.certs[0].get()) == 0);
  return c;
}

}  // namespace

TEST_CASE("write_demo writes a chaining PKI and the config files", "[demo]") {
  TempDir tmp;
  DemoLayout layout;
  layout.dir = tmp.path() + "/demo";
  layout.public_port = 18443;
  layout.mesh_port = 18444;
  layout.admin_port = 19901;
  std::string err;
  INFO(err);
  REQUIRE(write_demo(layout, err));
  const std::string& d = layout.dir;
  CHECK(layout.config_path == d + "/gateway.toml");
  for (const char* f : {"/gateway.toml", "/tenants.d/acme.toml", "/tenants.d/globex.toml",
                        "/tenants.d/mesh-acme.toml", "/tenants.d/mesh-globex.toml",
                        "/public-ca.pem", "/mesh/ca.pem", "/mesh/gateway.pem"}) {
    CHECK(std::filesystem::exists(d + f));
  }

  const std::string mesh_ca = d + "/mesh/ca.pem";
  const std::string public_ca = d + "/public-ca.pem";
  Chain pub = chain_of(public_ca);
  CHECK(subject_string(pub.certs[0].get()).find("CN=Portcullis Demo Public CA") == 0);
  Chain mesh = chain_of(mesh_ca);
  CHECK(uri_sans(mesh.certs[0].get()) == std::vector<std::string>{"spiffe://demo.mesh"});

  Chain acme = check_leaf(d + "/certs/acme", public_ca);
  CHECK(dns_sans(acme.certs[0].get()) ==
        std::vector<std::string>{"shop.acme.test", "*.api.acme.test"});
  Chain globex = check_leaf(d + "/certs/globex", public_ca);
  CHECK(dns_sans(globex.certs[0].get()) == std::vector<std::string>{"www.globex.test"});
  Chain gw = check_leaf(d + "/mesh/gateway", mesh_ca);
  CHECK(uri_sans(gw.certs[0].get()) ==
        std::vector<std::string>{"spiffe://demo.mesh/ns/portcullis/sa/gateway"});
  Chain echo_acme = check_leaf(d + "/certs/echo-acme", mesh_ca);
  CHECK(dns_sans(echo_acme.certs[0].get()) == std::vector<std::string>{"echo.acme.mesh"});
  CHECK(uri_sans(echo_acme.certs[0].get()) ==
        std::vector<std::string>{"spiffe://demo.mesh/ns/acme/sa/echo"});
  Chain echo_globex = check_leaf(d + "/certs/echo-globex", mesh_ca);
  CHECK(uri_sans(echo_globex.certs[0].get()) ==
        std::vector<std::string>{"spiffe://demo.mesh/ns/globex/sa/echo"});
  // Tenant certs do not chain to the mesh CA and vice versa.
  CHECK(verify_against(acme.certs[0].get(), mesh.certs[0].get()) != X509_V_OK);
  CHECK(verify_against(echo_acme.certs[0].get(), pub.certs[0].get()) != X509_V_OK);

  const std::string gateway = slurp(d + "/gateway.toml");
  CHECK(gateway.find("workers = 1\n") != std::string::npos);
  CHECK(gateway.find("address = \"127.0.0.1:18443\"") != std::string::npos);
  CHECK(gateway.find("address = \"127.0.0.1:18444\"") != std::string::npos);
  CHECK(gateway.find("listen = \"127.0.0.1:19901\"") != std::string::npos);
  CHECK(gateway.find("trust_domain = \"demo.mesh\"") != std::string::npos);
  CHECK(gateway.find("audit  = \"audit.log\"") != std::string::npos);
  const std::string acme_toml = slurp(d + "/tenants.d/acme.toml");
  CHECK(acme_toml.find("hosts = [\"shop.acme.test\", \"*.api.acme.test\"]") !=
        std::string::npos);
  CHECK(acme_toml.find("endpoints = [\"127.0.0.1:18444\"]") != std::string::npos);
  CHECK(acme_toml.find("identity = \"spiffe://demo.mesh/ns/acme/sa/echo\"") !=
        std::string::npos);
  CHECK(acme_toml.find("protocol = \"h2\"") != std::string::npos);
  CHECK(slurp(d + "/tenants.d/globex.toml").find("protocol = \"http/1.1\"") !=
        std::string::npos);
  const std::string mesh_globex = slurp(d + "/tenants.d/mesh-globex.toml");
  CHECK(mesh_globex.find("name  = \"mesh-globex\"") != std::string::npos);
  CHECK(mesh_globex.find("client_ca = \"../mesh/ca.pem\"") != std::string::npos);
  CHECK(mesh_globex.find("direct_response = \"hello from the {tenant} mesh service; you are "
                         "{client_identity}\\n\"") != std::string::npos);
  // Every relative path named in a tenant file exists.
  for (const char* f : {"/tenants.d/../certs/acme.pem", "/tenants.d/../certs/echo-globex.key",
                        "/tenants.d/../mesh/ca.pem"}) {
    CHECK(std::filesystem::exists(d + f));
  }

  SECTION("rewriting into the same directory works") {
    REQUIRE(write_demo(layout, err));
  }
  SECTION("instructions name the CA file, ports and the expected failures") {
    const std::string text = demo_instructions(layout);
    CHECK(text.find("curl --cacert " + public_ca +
                    " --resolve shop.acme.test:18443:127.0.0.1 https://shop.acme.test:18443/") !=
          std::string::npos);
    CHECK(text.find("--http2") != std::string::npos);
    CHECK(text.find("www.globex.test") != std::string::npos);
    CHECK(text.find("421") != std::string::npos);
    CHECK(text.find("http://127.0.0.1:19901/metrics") != std::string::npos);
  }
}
