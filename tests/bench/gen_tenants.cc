// gen_tenants: writes N tenant files with their certificates for the scale benchmark.
//
//   gen_tenants --out DIR --count N
//
// DIR/ca.pem            one EC P-256 CA (its key is not kept: nothing else is issued from it)
// DIR/certs/tNNNNNN.pem leaf (DNS SAN tNNNNNN.scale.test) then the CA, like `portcullis certs issue`
// DIR/certs/tNNNNNN.key EC P-256, PKCS#8, mode 0600
// DIR/tenants.d/tNNNNNN.toml  one host, one direct_response route (no upstream needed)
//
// Everything is written under DIR.partial and renamed to DIR at the end, so a DIR that exists
// is complete (scale.py caches on that). One process instead of 2N `portcullis certs issue`.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "certs/ca.h"

namespace {

namespace fs = std::filesystem;
using portcullis::certs::CertSpec;
using portcullis::certs::issue_in_memory;
using portcullis::certs::IssuedCert;

constexpr std::int64_t kLeafSeconds = 365LL * 86400;

std::string tenant_name(long i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "t%06ld", i);
  return buf;
}

int usage() {
  std::fprintf(stderr, "usage: gen_tenants --out DIR --count N\n");
  return 2;
}

bool write_tenant(const fs::path& dir, const std::string& name) {
  std::ofstream f(dir / "tenants.d" / (name + ".toml"));
  f << "name = \"" << name << "\"\n"
    << "hosts = [\"" << name << ".scale.test\"]\n\n"
    << "[tls]\n"
    << "cert = \"../certs/" << name << ".pem\"\n"
    << "key = \"../certs/" << name << ".key\"\n\n"
    << "[[route]]\n"
    << "path_prefix = \"/\"\n"
    << "direct_response = \"" << name << "\\n\"\n";
  return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
  std::string out;
  long count = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--out") {
      out = argv[i + 1];
    } else if (flag == "--count") {
      count = std::strtol(argv[i + 1], nullptr, 10);
    } else {
      return usage();
    }
  }
  if (out.empty() || count < 1 || count > 999999 || argc % 2 == 0) {
    return usage();
  }
  const fs::path final_dir = out;
  const fs::path dir = out + ".partial";
  std::error_code ec;
  if (fs::exists(final_dir)) {
    std::fprintf(stderr, "gen_tenants: %s exists; remove it to regenerate\n", out.c_str());
    return 1;
  }
  fs::remove_all(dir, ec);
  fs::create_directories(dir / "certs");
  fs::create_directories(dir / "tenants.d");

  std::string err;
  CertSpec ca_spec;
  ca_spec.common_name = "Scale Bench CA";
  ca_spec.is_ca = true;
  ca_spec.not_after_offset = 10 * kLeafSeconds;
  IssuedCert ca = issue_in_memory(ca_spec, nullptr, nullptr, err);
  if (!ca || !portcullis::certs::write_certs_pem((dir / "ca.pem").string(), {ca.cert.get()}, err)) {
    std::fprintf(stderr, "gen_tenants: CA: %s\n", err.c_str());
    return 1;
  }

  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < count; ++i) {
    const std::string name = tenant_name(i);
    CertSpec spec;
    spec.common_name = name + ".scale.test";
    spec.dns = {spec.common_name};
    spec.not_after_offset = kLeafSeconds;
    spec.client_and_server = false;
    IssuedCert leaf = issue_in_memory(spec, ca.cert.get(), ca.key.get(), err);
    const fs::path base = dir / "certs" / name;
    if (!leaf ||
        !portcullis::certs::write_certs_pem(base.string() + ".pem",
                                            {leaf.cert.get(), ca.cert.get()}, err) ||
        !portcullis::certs::write_key_pem(base.string() + ".key", leaf.key.get(), err)) {
      std::fprintf(stderr, "gen_tenants: %s: %s\n", name.c_str(), err.c_str());
      return 1;
    }
    if (!write_tenant(dir, name)) {
      std::fprintf(stderr, "gen_tenants: %s: cannot write tenant file\n", name.c_str());
      return 1;
    }
    if ((i + 1) % 10000 == 0) {
      const auto s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
      std::fprintf(stderr, "gen_tenants: %ld tenants, %.1f s\n", i + 1, s.count());
    }
  }
  fs::rename(dir, final_dir, ec);
  if (ec) {
    std::fprintf(stderr, "gen_tenants: rename to %s: %s\n", out.c_str(), ec.message().c_str());
    return 1;
  }
  return 0;
}
