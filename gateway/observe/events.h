// The records behind the access and audit logs (CONTRACT "Logs"), and their JSON lines.
// Field names are the contract; empty optional fields are left out.
#pragma once

#include <cstdint>
#include <string>

namespace portcullis::gateway::observe {

struct AccessEntry {
  std::string tenant, listener, client, sni, tls_version, alpn, method, authority, path;
  int status = 0;
  std::int64_t bytes_in = 0, bytes_out = 0, duration_ms = 0;
  std::string upstream, upstream_identity, request_id, reason;
  std::string source_identity;  // egress: the workload's SPIFFE ID
};

struct AuditEvent {
  std::string event;     // tls_reject, egress_deny, mtls_fail, config_reload, cert_reload, ...
  std::string decision;  // allow | deny
  std::string reason;
  // The subject of the decision; any may be empty.
  std::string tenant, listener, client, cluster, source, destination, identity,
      expected_identity, file, detail;
};

std::string access_line(const AccessEntry& a);
std::string audit_line(const AuditEvent& e);

}  // namespace portcullis::gateway::observe
