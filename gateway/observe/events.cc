#include "gateway/observe/events.h"

#include "gateway/observe/access_log.h"

namespace portcullis::gateway::observe {
namespace {

void add_if(JsonLine& j, const char* key, const std::string& v) {
  if (!v.empty()) {
    j.add(key, v);
  }
}

}  // namespace

std::string access_line(const AccessEntry& a) {
  JsonLine j;
  j.add("time", rfc3339_now());
  j.add("tenant", a.tenant);
  j.add("listener", a.listener);
  j.add("client", a.client);
  j.add("sni", a.sni);
  j.add("tls_version", a.tls_version);
  j.add("alpn", a.alpn);
  j.add("method", a.method);
  j.add("authority", a.authority);
  j.add("path", a.path);
  j.add("status", static_cast<std::int64_t>(a.status));
  j.add("bytes_in", a.bytes_in);
  j.add("bytes_out", a.bytes_out);
  j.add("duration_ms", a.duration_ms);
  j.add("upstream", a.upstream);
  j.add("upstream_identity", a.upstream_identity);
  j.add("request_id", a.request_id);
  add_if(j, "reason", a.reason);
  add_if(j, "source_identity", a.source_identity);
  return j.str();
}

std::string audit_line(const AuditEvent& e) {
  JsonLine j;
  j.add("time", rfc3339_now());
  j.add("event", e.event);
  j.add("decision", e.decision);
  j.add("reason", e.reason);
  add_if(j, "tenant", e.tenant);
  add_if(j, "listener", e.listener);
  add_if(j, "client", e.client);
  add_if(j, "cluster", e.cluster);
  add_if(j, "source", e.source);
  add_if(j, "destination", e.destination);
  add_if(j, "identity", e.identity);
  add_if(j, "expected_identity", e.expected_identity);
  add_if(j, "file", e.file);
  add_if(j, "detail", e.detail);
  return j.str();
}

}  // namespace portcullis::gateway::observe
