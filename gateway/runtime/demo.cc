#include "gateway/runtime/demo.h"

#include <filesystem>
#include <fstream>
#include <vector>

#include <openssl/rand.h>

#include "certs/ca.h"

namespace portcullis::gateway::runtime {

namespace {

constexpr const char* kMeshCaName = "Portcullis Demo Mesh CA";
constexpr const char* kPublicCaName = "Portcullis Demo Public CA";
constexpr std::int64_t kDemoLeafSeconds = 365LL * 86400;
constexpr std::int64_t kDemoCaSeconds = 3650LL * 86400;
constexpr const char* kEchoText =
    "hello from the {tenant} mesh service; you are {client_identity}\\n";

bool write_text(const std::string& path, const std::string& text, std::string& err) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) {
    err = path + ": cannot write file";
    return false;
  }
  return true;
}

certs::IssuedCert make_ca(const std::string& name, const std::string& trust_domain,
                          std::string& err) {
  certs::CertSpec spec;
  spec.common_name = name;
  spec.organization = "Portcullis Demo";
  spec.is_ca = true;
  spec.not_after_offset = kDemoCaSeconds;
  if (!trust_domain.empty()) {
    spec.uris.push_back("spiffe://" + trust_domain);
  }
  return certs::issue_in_memory(spec, nullptr, nullptr, err);
}

// Issues a leaf from ca and writes PREFIX.pem (leaf then CA) and PREFIX.key.
bool write_leaf(const std::string& prefix, const certs::IssuedCert& ca,
                std::vector<std::string> dns, std::vector<std::string> uris, std::string& err) {
  certs::CertSpec spec;
  spec.common_name = dns.empty() ? std::string() : dns.front();
  spec.dns = std::move(dns);
  spec.uris = std::move(uris);
  spec.not_after_offset = kDemoLeafSeconds;
  certs::IssuedCert leaf = certs::issue_in_memory(spec, ca.cert.get(), ca.key.get(), err);
  if (!leaf) {
    return false;
  }
  return certs::write_key_pem(prefix + ".key", leaf.key.get(), err) &&
         certs::write_certs_pem(prefix + ".pem", {leaf.cert.get(), ca.cert.get()}, err);
}

bool write_ca(const std::string& prefix, const certs::IssuedCert& ca, std::string& err) {
  return certs::write_key_pem(prefix + ".key", ca.key.get(), err) &&
         certs::write_certs_pem(prefix + ".pem", {ca.cert.get()}, err);
}

std::string gateway_toml(const DemoLayout& l) {
  const std::string p = std::to_string(l.public_port);
  const std::string m = std::to_string(l.mesh_port);
  const std::string a = std::to_string(l.admin_port);
  return "# Portcullis demo configuration, written by `portcullis demo`.\n"
         "[gateway]\n"
         "workers = 1\n"
         "tenants_dir = \"tenants.d\"\n"
         "drain_timeout = \"15s\"\n"
         "drain_delay = \"0s\"      # no load balancer in front of a demo\n"
         "state_dir = \"state\"     # handoff.sock for `run --takeover`\n"
         "\n"
         "[admin]\n"
         "listen = \"127.0.0.1:" + a + "\"\n"
         "\n"
         "[log]\n"
         "access = \"-\"\n"
         "audit  = \"audit.log\"\n"
         "audit_key = \"audit.key\"            # HMAC key of the audit hash chain\n"
         "\n"
         "[mesh]\n"
         "trust_domain = \"" + std::string(kDemoTrustDomain) + "\"\n"
         "ca   = \"mesh/ca.pem\"\n"
         "cert = \"mesh/gateway.pem\"\n"
         "key  = \"mesh/gateway.key\"\n"
         "\n"
         "# Public clients: SNI picks acme or globex.\n"
         "[[listener]]\n"
         "name = \"public\"\n"
         "kind = \"ingress\"\n"
         "address = \"127.0.0.1:" + p + "\"\n"
         "proxy_protocol = \"off\"\n"
         "unknown_sni = \"reject\"\n"
         "\n"
         "# The demo's stand-in for the mesh: mTLS-only tenants mesh-acme and mesh-globex.\n"
         "[[listener]]\n"
         "name = \"mesh\"\n"
         "kind = \"ingress\"\n"
         "address = \"127.0.0.1:" + m + "\"\n"
         "proxy_protocol = \"off\"\n"
         "unknown_sni = \"reject\"\n";
}

std::string public_tenant_toml(const DemoLayout& l, const std::string& tenant,
                               const std::vector<std::string>& hosts,
                               const std::string& protocol) {
  std::string host_list;
  for (const std::string& h : hosts) {
    host_list += (host_list.empty() ? "\"" : ", \"") + h + "\"";
  }
  return "# Tenant " + tenant + ", written by `portcullis demo`.\n"
         "name  = \"" + tenant + "\"\n"
         "hosts = [" + host_list + "]\n"
         "\n"
         "[tls]\n"
         "cert = \"../certs/" + tenant + ".pem\"\n"
         "key  = \"../certs/" + tenant + ".key\"\n"
         "min_tls = \"1.2\"\n"
         "\n"
         "[[route]]\n"
         "path_prefix = \"/\"\n"
         "cluster = \"echo\"\n"
         "\n"
         "[cluster.echo]\n"
         "endpoints = [\"127.0.0.1:" + std::to_string(l.mesh_port) + "\"]\n"
         "identity = \"spiffe://" + std::string(kDemoTrustDomain) + "/ns/" + tenant +
         "/sa/echo\"\n"
         "server_name = \"echo." + tenant + ".mesh\"\n"
         "protocol = \"" + protocol + "\"\n";
}

std::string mesh_tenant_toml(const std::string& tenant) {
  return "# Mesh service stand-in for " + tenant + ", written by `portcullis demo`.\n"
         "# Only clients with a certificate from the mesh CA get in.\n"
         "name  = \"mesh-" + tenant + "\"\n"
         "hosts = [\"echo." + tenant + ".mesh\"]\n"
         "\n"
         "[tls]\n"
         "cert = \"../certs/echo-" + tenant + ".pem\"\n"
         "key  = \"../certs/echo-" + tenant + ".key\"\n"
         "client_ca = \"../mesh/ca.pem\"\n"
         "min_tls = \"1.2\"\n"
         "\n"
         "[[route]]\n"
         "path_prefix = \"/\"\n"
         "direct_response = \"" + std::string(kEchoText) + "\"\n"
         "status = 200\n";
}

}  // namespace

bool write_demo(DemoLayout& layout, std::string& err) {
  namespace fs = std::filesystem;
  if (layout.dir.empty()) {
    err = "no demo directory given";
    return false;
  }
  const std::string& dir = layout.dir;
  std::error_code ec;
  for (const char* sub : {"", "/mesh", "/certs", "/tenants.d"}) {
    fs::create_directories(dir + sub, ec);
    if (ec) {
      err = dir + sub + ": cannot create directory: " + ec.message();
      return false;
    }
  }
  certs::IssuedCert mesh_ca = make_ca(kMeshCaName, kDemoTrustDomain, err);
  if (!mesh_ca) {
    return false;
  }
  certs::IssuedCert public_ca = make_ca(kPublicCaName, "", err);
  if (!public_ca) {
    return false;
  }
  const std::string td = std::string("spiffe://") + kDemoTrustDomain;
  if (!write_ca(dir + "/mesh/ca", mesh_ca, err) || !write_ca(dir + "/public-ca", public_ca, err) ||
      !write_leaf(dir + "/mesh/gateway", mesh_ca, {}, {td + "/ns/portcullis/sa/gateway"}, err) ||
      !write_leaf(dir + "/certs/acme", public_ca, {"shop.acme.test", "*.api.acme.test"}, {},
                  err) ||
      !write_leaf(dir + "/certs/globex", public_ca, {"www.globex.test"}, {}, err) ||
      !write_leaf(dir + "/certs/echo-acme", mesh_ca, {"echo.acme.mesh"},
                  {td + "/ns/acme/sa/echo"}, err) ||
      !write_leaf(dir + "/certs/echo-globex", mesh_ca, {"echo.globex.mesh"},
                  {td + "/ns/globex/sa/echo"}, err)) {
    return false;
  }
  layout.config_path = dir + "/gateway.toml";
  // The audit chain's key: 32 random bytes, hex, readable by the gateway alone.
  unsigned char key[32];
  if (RAND_bytes(key, sizeof key) != 1) {
    err = "cannot draw random bytes for the audit key";
    return false;
  }
  std::string key_hex;
  for (unsigned char c : key) {
    key_hex += "0123456789abcdef"[c >> 4];
    key_hex += "0123456789abcdef"[c & 0xf];
  }
  if (!write_text(dir + "/audit.key", key_hex + "\n", err)) {
    return false;
  }
  fs::permissions(dir + "/audit.key", fs::perms::owner_read | fs::perms::owner_write,
                  fs::perm_options::replace, ec);
  return write_text(layout.config_path, gateway_toml(layout), err) &&
         write_text(dir + "/tenants.d/acme.toml",
                    public_tenant_toml(layout, "acme", {"shop.acme.test", "*.api.acme.test"},
                                       "h2"),
                    err) &&
         write_text(dir + "/tenants.d/globex.toml",
                    public_tenant_toml(layout, "globex", {"www.globex.test"}, "http/1.1"),
                    err) &&
         write_text(dir + "/tenants.d/mesh-acme.toml", mesh_tenant_toml("acme"), err) &&
         write_text(dir + "/tenants.d/mesh-globex.toml", mesh_tenant_toml("globex"), err);
}

std::string demo_instructions(const DemoLayout& layout) {
  const std::string p = std::to_string(layout.public_port);
  const std::string ca = layout.dir + "/public-ca.pem";
  const auto curl = [&](const std::string& host, const std::string& extra,
                        const std::string& path) {
    return "  curl --cacert " + ca + " --resolve " + host + ":" + p + ":127.0.0.1" + extra +
           " https://" + host + ":" + p + path + "\n";
  };
  std::string out;
  out += "Portcullis demo in " + layout.dir + "\n";
  out += "  config: " + layout.config_path + "\n\n";
  out += "Tenant acme (upstream over mTLS + HTTP/2 to the mesh service):\n";
  out += curl("shop.acme.test", "", "/");
  out += curl("shop.acme.test", " --http2", "/");
  out += curl("v1.api.acme.test", "", "/");
  out += "\nTenant globex (upstream over mTLS + HTTP/1.1):\n";
  out += curl("www.globex.test", "", "/");
  out += "\nA Host of another tenant than the SNI chose (expect 421 Misdirected Request):\n";
  out += "  curl --cacert " + ca + " --resolve shop.acme.test:" + p +
         ":127.0.0.1 -H 'Host: www.globex.test' https://shop.acme.test:" + p + "/\n";
  out += "\nAn unknown SNI (expect a TLS failure: unrecognized_name):\n";
  out += curl("unknown.example.test", "", "/");
  out += "\nMetrics and health:\n";
  out += "  curl http://127.0.0.1:" + std::to_string(layout.admin_port) + "/metrics\n";
  out += "  curl http://127.0.0.1:" + std::to_string(layout.admin_port) + "/readyz\n";
  out += "\nInspect a certificate:\n";
  out += "  portcullis certs inspect " + layout.dir + "/certs/acme.pem\n";
  return out;
}

}  // namespace portcullis::gateway::runtime
