#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "certs/cli.h"
#include "certs/pem.h"
#include "tests/unit/certs/test_util.h"

using namespace portcullis::certs;
using portcullis::certs::testing::TempDir;

namespace {

int run(std::initializer_list<std::string> args) {
  std::vector<std::string> storage(args);
  std::vector<char*> argv;
  for (std::string& s : storage) {
    argv.push_back(s.data());
  }
  argv.push_back(nullptr);
  return certs_main(static_cast<int>(storage.size()), argv.data());
}

}  // namespace

TEST_CASE("certs CLI usage errors exit 2", "[cli]") {
  CHECK(run({"certs"}) == 2);
  CHECK(run({"certs", "frobnicate"}) == 2);
  CHECK(run({"certs", "init-ca"}) == 2);
  CHECK(run({"certs", "init-ca", "--dir"}) == 2);
  CHECK(run({"certs", "init-ca", "--dir", "/tmp/x"}) == 2);
  CHECK(run({"certs", "init-ca", "--dir", "/tmp/x", "--name", "n", "--bogus", "1"}) == 2);
  CHECK(run({"certs", "issue", "--ca", "/tmp/x"}) == 2);
  CHECK(run({"certs", "issue", "--ca", "/tmp/x", "--out", "/tmp/y"}) == 2);
  CHECK(run({"certs", "issue", "--ca", "d", "--out", "o", "--dns", "a", "--days", "x"}) == 2);
  CHECK(run({"certs", "issue", "--ca", "d", "--out", "o", "--dns", "a", "--key", "dsa"}) == 2);
  CHECK(run({"certs", "inspect"}) == 2);
  CHECK(run({"certs", "inspect", "a", "b"}) == 2);
  CHECK(run({"certs", "init-ca", "stray"}) == 2);
}

TEST_CASE("certs CLI init-ca, issue, inspect", "[cli]") {
  TempDir dir;
  const std::string ca = dir.path() + "/ca";
  REQUIRE(run({"certs", "init-ca", "--dir", ca, "--name", "Mesh CA", "--trust-domain",
               "mesh.example"}) == 0);
  CHECK(std::filesystem::exists(ca + "/ca.pem"));
  CHECK(run({"certs", "init-ca", "--dir", ca, "--name", "Again"}) == 1);
  const std::string out = dir.path() + "/svc";
  REQUIRE(run({"certs", "issue", "--ca", ca, "--out", out, "--dns", "a.example", "--dns=b.example",
               "--spiffe", "spiffe://mesh.example/ns/acme/sa/svc", "--ip", "::1", "--days", "10",
               "--key", "rsa"}) == 0);
  Chain chain;
  LoadError err;
  REQUIRE(load_chain(out + ".pem", chain, err));
  CHECK(dns_sans(chain.certs[0].get()) == std::vector<std::string>{"a.example", "b.example"});
  CHECK(ip_sans(chain.certs[0].get()) == std::vector<std::string>{"::1"});
  CHECK(key_info(X509_get0_pubkey(chain.certs[0].get())).type == "RSA");
  CHECK(run({"certs", "issue", "--ca", dir.path() + "/none", "--out", out, "--dns", "a"}) == 1);
  CHECK(run({"certs", "inspect", out + ".pem"}) == 0);
  CHECK(run({"certs", "inspect", dir.path() + "/missing.pem"}) == 1);
}
