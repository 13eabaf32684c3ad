// Target: everything an UpstreamConnection needs to know to open and trust one connection,
// whether to a mesh cluster endpoint (mTLS + SPIFFE ID) or to an egress destination (public PKI
// roots of that entry, host name, pins, key strength).
//
// Copied into each connection, so a connection never depends on where its target came from;
// the SSL_CTX it points at stays alive through the snapshot the connection pins.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/socket.h>

#include "gateway/io/uv.h"
#include "gateway/snapshot/health.h"
#include "tls/ptr.h"

namespace portcullis::gateway::upstream {

struct Target {
  std::string name;         // cluster name or egress destination, for logs
  // The metrics label when it differs from name: "egress:<entry host>" for egress, so that the
  // host:port a workload asks for (any name under a wildcard entry) never becomes a label.
  std::string metrics_cluster;
  std::string tenant;       // the owning tenant, for metrics labels; empty for egress
  SSL_CTX* ctx = nullptr;   // null: plaintext (only with an explicit plaintext = true)
  std::string sni;          // empty: none
  std::string expect_uri;   // the peer must carry this URI SAN (mesh SPIFFE ID)
  std::string expect_dns;   // else the peer must match this DNS name (never the CN)
  std::vector<std::string> pins;  // "sha256/..." SPKI pins; one must match in the chain
  bool egress = false;      // egress origination: key strength and detailed reasons
  std::string source;       // egress: the workload's identity, for the audit log
  bool require_h2 = false;  // the cluster says h2: refuse a peer that does not offer it
  bool prefer_h2 = false;   // egress: use h2 when the peer offers it
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds request_timeout{30'000};
  std::uint32_t max_failures = 5;              // passive ejection
  std::chrono::milliseconds eject_time{30'000};
};

// Where to connect: a host name to resolve, or an address that was already checked (egress:
// connect to exactly the address the policy saw, so no second lookup can rebind it).
struct Endpoint {
  io::HostPort host_port;
  std::optional<sockaddr_storage> address;
  std::shared_ptr<EndpointHealth> health;  // null: not tracked (egress)
};

}  // namespace portcullis::gateway::upstream
