// Events: the one door from connections (and the process) to the access log, the audit log and
// the metrics. Every method is typed: reasons are `Reason`, audit events are `AuditEvent`, so a
// log line or a metric label can only carry a word of those two vocabularies.
//
// Counting rules (README "What operators see"): a failure is counted once, under one name.
//   - a refused handshake: tls_handshake_failures_total; a refused PROXY header:
//     rejections_total (not a handshake failure: no handshake started);
//   - an upstream connection failure: upstream_failures_total{cluster,reason}, once per
//     connection; the requests it failed are not counted again in rejections_total.
//
// Thread:   any (workers and the main thread): the metrics are atomics and each log line is one
//           write under the log file's own lock. open()/reopen() from the main thread.
// Lifetime: owned by runtime::Server; outlives every worker. Workers and connections hold a
//           reference to it and never to the Server.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/http/exchange.h"
#include "gateway/http/session.h"
#include "gateway/observe/access_log.h"
#include "gateway/observe/audit_log.h"
#include "gateway/observe/gateway_metrics.h"
#include "gateway/observe/reason.h"
#include "gateway/snapshot/snapshot.h"
#include "gateway/snapshot/target.h"
#include "tls/stream.h"

namespace portcullis::gateway::events {

class Events {
 public:
  // Log files ("-" stderr, "" off), from [log].
  // `audit_key`: optional HMAC key file of the audit chain; false (with `error`) when a log or
  // the key cannot be opened. `access_sample`: [log] access_sample.
  bool open(const std::string& access_path, const std::string& audit_path,
            const std::string& audit_key = {}, std::string* error = nullptr,
            double access_sample = 1.0);
  void reopen_logs() noexcept;

  // --- downstream connections ---
  void connection_opened(const std::string& listener);
  void connection_closed(const std::string& listener);
  // Refused by a [limits] cap: counted, not audited (a flood must not flood the audit log).
  void connection_refused(Reason why);
  // An open connection closed on a limit (idle_timeout): counted, not audited.
  void connection_closed_on_limit(Reason why);
  void handshake_done(const tls::TlsSummary& s, const std::string& tenant);
  void handshake_rejected(const http::ConnFacts& facts, Reason why, const std::string& detail);
  void proxy_rejected(const http::ConnFacts& facts, Reason why, const std::string& detail);

  // --- requests ---
  void exchange_done(const http::ConnFacts& facts, http::Exchange& ex);
  void request_rejected(const http::ConnFacts& facts, const std::string& tenant, int status,
                        Reason why);

  // --- upstream connections ---
  // TLS or identity checks failed: audit mtls_fail (mesh) / egress_tls_fail, and one upstream
  // failure.
  void upstream_tls_failed(const upstream::Target& target, const std::string& address,
                           Reason why, const std::string& seen, const std::string& detail);
  // Resolve, connect, connect time-out: one upstream failure.
  void upstream_failed(const upstream::Target& target, Reason why);
  void upstream_handshake(const upstream::Target& target, bool resumed);

  // --- egress: every decision is audited (egress_allow / egress_deny) and counted ---
  void egress_decision(const std::string& source, const std::string& destination, bool allow,
                       Reason why, const std::string& detail);

  // --- the process (main thread) ---
  void config_loaded(bool reload, std::uint64_t generation, const std::string& file);
  void config_rejected(bool reload, const std::string& file, const std::string& detail);
  void reload_result(bool ok, std::uint64_t generation);
  void cert_reloaded(const std::string& name, const std::string& file);
  void cert_rejected(const std::string& file, const std::string& detail);
  void plaintext_upstream(const std::string& tenant, const std::string& cluster);
  void ticket_keys_rejected(const std::string& file, const std::string& detail);
  void memory_budget(bool shedding, const std::string& detail);
  // SIGUSR2 upgrade: a new process took over (allow) or it was refused (deny).
  void upgrade(bool taken_over, const std::string& detail);
  // A tenant whose files have errors (audit tenant_state, deny): `why` tenant_quarantined (left
  // out, its hosts refused) or tenant_stale (its previous version keeps serving); config_valid
  // (allow) when it is back in service.
  void tenant_state(const std::string& tenant, const std::string& file, Reason why,
                    const std::string& error);

  // --- the running generation was published (start and every reload): the metrics drop the
  // series of removed tenants and clusters and scale their caps; the reload-success gauges ---
  void config_published(const runtime::Snapshot& snap);

  // --- rate limits: audited and gauged when limiting starts and stops for a tenant or client,
  // each refused request only counted (a flood must not flood the audit log) ---
  struct RateLimitSubject {
    std::string_view scope;  // "tenant" or "client"
    std::string tenant;      // audited always; a metric label for scope "tenant" only
    std::string client;      // client address for scope "client"
    unsigned worker = 0;
    std::string detail;      // the configured rate, e.g. "10/s burst 20"
  };
  void rate_limit_changed(const RateLimitSubject& who, bool limiting);
  void rate_limited_request(const RateLimitSubject& who);
  // ACME (any thread): issuance, renewal, failure and challenge answers, per tenant.
  void acme(observe::AuditEvent e, bool ok, Reason why, const std::string& tenant,
            const std::string& detail);

  // --- the admin listener (main thread): a request refused for its bearer token (401),
  // audited (admin_reject) and counted in rejections_total ---
  void admin_rejected(const std::string& client, const std::string& path, Reason why);

  // --- for /metrics: the one registry; the process adds its callback families to it ---
  std::string render_metrics() const { return metrics_.render(); }
  observe::Registry& metrics_registry() noexcept { return metrics_.registry(); }
  std::uint64_t access_write_failures() const noexcept;
  std::uint64_t audit_write_failures() const noexcept;

 private:
  void audit(observe::AuditEvent e, bool allow, Reason why, const observe::AuditSubject& s);

  mutable observe::AccessLog access_;  // mutable: the write-failure counters are read
  mutable observe::AuditLog audit_;
  observe::GatewayMetrics metrics_;
};

}  // namespace portcullis::gateway::events
