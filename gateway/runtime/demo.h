// `portcullis demo`: writes a self-contained demo PKI and configuration.
//
// What: into layout.dir, a mesh CA (trust domain "demo.mesh"), a public CA ("Portcullis Demo
// Public CA"), tenant certificates for acme ("shop.acme.test", "*.api.acme.test") and globex
// ("www.globex.test"), the gateway's mesh workload certificate
// (spiffe://demo.mesh/ns/portcullis/sa/gateway), two mesh "echo" service certificates, and
// gateway.toml + tenants.d/{acme,globex,mesh-acme,mesh-globex}.toml. The public tenants route
// "/" through mTLS to the gateway's own "mesh" listener, where the mesh-* tenants answer with a
// direct_response, so one process demonstrates ingress, tenant isolation and mesh mTLS.
// Files written:
//   DIR/gateway.toml, DIR/tenants.d/*.toml
//   DIR/public-ca.pem, DIR/public-ca.key
//   DIR/mesh/ca.pem, DIR/mesh/ca.key, DIR/mesh/gateway.pem, DIR/mesh/gateway.key
//   DIR/certs/{acme,globex,echo-acme,echo-globex}.{pem,key}   (chains: leaf then CA)
// Thread: main thread, before the server starts.
// Ownership: nothing retained.
#pragma once

#include <cstdint>
#include <string>

namespace portcullis::gateway::runtime {

struct DemoLayout {
  std::string dir;               // input: where to write (created if missing)
  std::string config_path;       // output: DIR/gateway.toml
  std::uint16_t public_port = 0;
  std::uint16_t mesh_port = 0;
  std::uint16_t admin_port = 0;
};

inline constexpr const char* kDemoTrustDomain = "demo.mesh";

// Writes everything (overwriting earlier demo files) and sets layout.config_path.
bool write_demo(DemoLayout& layout, std::string& err);

// The curl commands to try against a running demo, as printable text.
std::string demo_instructions(const DemoLayout& layout);

}  // namespace portcullis::gateway::runtime
