#include "gateway/events/events.h"

#include <algorithm>
#include <chrono>

namespace portcullis::gateway::events {
namespace {

using observe::AuditEvent;

const std::string& metrics_cluster(const upstream::Target& t) {
  return t.metrics_cluster.empty() ? t.name : t.metrics_cluster;
}

std::int64_t elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

std::int64_t elapsed_us(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

std::string_view label(Reason r) { return r == Reason::none ? "" : to_string(r); }

observe::AuditSubject client_subject(const http::ConnFacts& facts, const std::string& detail) {
  observe::AuditSubject subject;
  subject.source = facts.client_ip + ":" + std::to_string(facts.client_port);
  subject.destination = "listener " + facts.listener;
  if (!detail.empty()) {
    subject.detail = detail;
  }
  return subject;
}

}  // namespace

bool Events::open(const std::string& access_path, const std::string& audit_path,
                  const std::string& audit_key, std::string* error, double access_sample) {
  access_.open(access_path);
  access_.set_sample(access_sample);
  return audit_.open(audit_path, audit_key, error);
}

void Events::reopen_logs() noexcept {
  access_.reopen();
  audit_.reopen();
}

void Events::audit(AuditEvent e, bool allow, Reason why, const observe::AuditSubject& s) {
  audit_.record(to_string(e), allow ? observe::Decision::allow : observe::Decision::deny,
                to_string(why), s);
}

void Events::connection_opened(const std::string& listener) { metrics_.connection(listener, +1); }

void Events::connection_closed(const std::string& listener) { metrics_.connection(listener, -1); }

void Events::connection_refused(Reason why) { metrics_.rejection(to_string(why)); }

void Events::connection_closed_on_limit(Reason why) { metrics_.connection_closed(to_string(why)); }

void Events::handshake_done(const tls::TlsSummary& s, const std::string& tenant) {
  metrics_.handshake(tenant, s.version, s.resumed);
}

void Events::handshake_rejected(const http::ConnFacts& facts, Reason why,
                                const std::string& detail) {
  metrics_.handshake_failed(to_string(why));
  audit(AuditEvent::tls_reject, false, why, client_subject(facts, detail));
}

// Before any handshake: a rejection, not a handshake failure.
void Events::proxy_rejected(const http::ConnFacts& facts, Reason why, const std::string& detail) {
  metrics_.rejection(to_string(why));
  audit(AuditEvent::proxy_reject, false, why, client_subject(facts, detail));
}

void Events::exchange_done(const http::ConnFacts& facts, http::Exchange& ex) {
  const auto& info = ex.info();
  const auto& req = ex.request();
  const std::int64_t ms = elapsed_ms(info.start);
  const std::int64_t us = elapsed_us(info.start);
  observe::AccessRecord a;
  a.tenant = info.tenant;
  a.listener = facts.listener;
  const std::string client = facts.client_ip + ":" + std::to_string(facts.client_port);
  a.client = client;
  a.sni = facts.sni;
  a.tls_version = facts.tls_version;
  a.alpn = facts.alpn;
  a.method = req.method;
  a.authority = info.authority.empty() ? req.authority : info.authority;
  a.path = req.path;
  a.status = ex.response().status;
  a.bytes_in = info.bytes_in;
  a.bytes_out = info.bytes_out;
  a.duration_ms = ms;
  a.upstream = info.upstream;
  a.upstream_identity = info.upstream_identity;
  a.request_id = info.request_id;
  a.reason = label(info.reason);
  a.source_identity = facts.source_identity;
  a.route = info.route;
  a.cluster = info.cluster;
  a.duration_us = us;
  access_.log(a);
  // The upstream connection counted its own failure; rejections_total counts the rest.
  const std::string_view rejection =
      counted_as_upstream_failure(info.reason) ? "" : label(info.reason);
  metrics_.request(info.tenant, info.route, info.cluster, ex.response().status, rejection,
                   static_cast<double>(ms) / 1000.0);
}

void Events::request_rejected(const http::ConnFacts& facts, const std::string& tenant, int status,
                              Reason why) {
  // Refused before a request existed (malformed, too large, too slow): the access log gets the
  // connection's facts, the status and the reason, so every status sent has a line.
  observe::AccessRecord a;
  a.tenant = tenant;
  a.listener = facts.listener;
  const std::string client = facts.client_ip + ":" + std::to_string(facts.client_port);
  a.client = client;
  a.sni = facts.sni;
  a.tls_version = facts.tls_version;
  a.alpn = facts.alpn;
  a.status = status;
  a.reason = label(why);
  a.source_identity = facts.source_identity;
  access_.log(a);
  metrics_.request(tenant, "", "", status, to_string(why), 0.0);
}

void Events::upstream_tls_failed(const upstream::Target& target, const std::string& address,
                                 Reason why, const std::string& seen, const std::string& detail) {
  observe::AuditSubject subject;
  subject.destination = target.name;
  if (target.egress) {
    subject.source = target.source;
  }
  subject.identity = seen.empty() ? "none" : seen;
  const std::string& expected = target.expect_uri.empty() ? target.expect_dns : target.expect_uri;
  subject.detail = "address " + address + "; expected " + expected +
                   (detail.empty() ? "" : "; " + detail);
  audit(target.egress ? AuditEvent::egress_tls_fail : AuditEvent::mtls_fail, false, why, subject);
  metrics_.upstream_failure(target.tenant, metrics_cluster(target), std::string(to_string(why)));
}

void Events::upstream_failed(const upstream::Target& target, Reason why) {
  metrics_.upstream_failure(target.tenant, metrics_cluster(target), std::string(to_string(why)));
}

void Events::upstream_handshake(const upstream::Target& target, bool resumed) {
  metrics_.upstream_handshake(target.tenant, metrics_cluster(target), resumed);
}

void Events::egress_decision(const std::string& source, const std::string& destination,
                             bool allow, Reason why, const std::string& detail) {
  observe::AuditSubject subject;
  subject.source = source;
  subject.destination = destination;
  if (!detail.empty()) {
    subject.detail = detail;
  }
  audit(allow ? AuditEvent::egress_allow : AuditEvent::egress_deny, allow, why, subject);
  metrics_.egress(allow ? "allow" : "deny", std::string(to_string(why)));
}

void Events::config_loaded(bool reload, std::uint64_t generation, const std::string& file) {
  observe::AuditSubject s;
  s.file = file;
  s.detail = "generation " + std::to_string(generation);
  audit(reload ? AuditEvent::config_reload : AuditEvent::config_load, true, Reason::config_valid,
        s);
}

void Events::config_rejected(bool reload, const std::string& file, const std::string& detail) {
  observe::AuditSubject s;
  s.file = file;
  s.detail = detail;
  audit(reload ? AuditEvent::config_reload : AuditEvent::config_load, false,
        Reason::config_invalid, s);
}

void Events::reload_result(bool ok, std::uint64_t generation) {
  metrics_.reload_result(ok);
  if (ok) {
    metrics_.set_generation(generation);
  }
}

void Events::cert_reloaded(const std::string& name, const std::string& file) {
  observe::AuditSubject s;
  s.tenant = name;
  s.file = file;
  audit(AuditEvent::cert_reload, true, Reason::cert_changed, s);
}

void Events::cert_rejected(const std::string& file, const std::string& detail) {
  observe::AuditSubject s;
  s.file = file;
  s.detail = detail;
  audit(AuditEvent::cert_reload, false, Reason::invalid_certificate, s);
}

void Events::plaintext_upstream(const std::string& tenant, const std::string& cluster) {
  observe::AuditSubject s;
  s.tenant = tenant;
  s.destination = cluster;
  audit(AuditEvent::plaintext_upstream, true, Reason::plaintext_configured, s);
}

void Events::admin_rejected(const std::string& client, const std::string& path, Reason why) {
  metrics_.rejection(to_string(why));
  observe::AuditSubject s;
  s.source = client;
  s.destination = "admin " + path;
  audit(AuditEvent::admin_reject, false, why, s);
}

void Events::ticket_keys_rejected(const std::string& file, const std::string& detail) {
  observe::AuditSubject s;
  s.file = file;
  s.detail = detail;
  audit(AuditEvent::ticket_keys, false, Reason::invalid_ticket_keys, s);
}

void Events::memory_budget(bool shedding, const std::string& detail) {
  observe::AuditSubject s;
  s.detail = detail;
  audit(AuditEvent::memory_budget, !shedding,
        shedding ? Reason::memory_budget : Reason::memory_recovered, s);
}

void Events::upgrade(bool taken_over, const std::string& detail) {
  observe::AuditSubject s;
  s.detail = detail;
  audit(AuditEvent::upgrade, taken_over, Reason::none, s);
}

void Events::tenant_state(const std::string& tenant, const std::string& file, Reason why,
                          const std::string& error) {
  observe::AuditSubject s;
  s.tenant = tenant;
  s.file = file;
  if (!error.empty()) {
    s.detail = error;
  }
  audit(AuditEvent::tenant_state, why == Reason::config_valid, why, s);
}

void Events::config_published(const runtime::Snapshot& snap) {
  const config::Config& cfg = snap.config;
  observe::GatewayMetrics::Shape shape;
  shape.tenants.reserve(cfg.tenants.size());
  for (const auto& t : cfg.tenants) {
    shape.tenants.push_back(t.name);
    shape.routes += t.routes.size();
    for (const auto& c : t.clusters) {
      shape.clusters.emplace_back(t.name, c.name);
    }
  }
  std::sort(shape.tenants.begin(), shape.tenants.end());
  std::sort(shape.clusters.begin(), shape.clusters.end());
  metrics_.follow(shape);
}

void Events::rate_limit_changed(const RateLimitSubject& who, bool limiting) {
  observe::AuditSubject s;
  s.tenant = who.tenant;
  if (!who.client.empty()) {
    s.source = who.client;
  }
  s.detail = std::string(limiting ? "requests refused with 429 from now on" : "requests pass again") +
             "; scope " + std::string(who.scope) + ", worker " + std::to_string(who.worker) +
             ", " + who.detail;
  audit(AuditEvent::rate_limit, !limiting, limiting ? Reason::rate_limited : Reason::rate_limit_ended, s);
  // Client series carry tenant="": one series per client scope, whichever tenant it hit.
  metrics_.rate_limited(who.scope, who.scope == "tenant" ? who.tenant : std::string(), limiting);
}

void Events::rate_limited_request(const RateLimitSubject& who) {
  metrics_.rate_limited_request(who.scope, who.scope == "tenant" ? who.tenant : std::string());
}

void Events::acme(AuditEvent e, bool ok, Reason why, const std::string& tenant,
                  const std::string& detail) {
  observe::AuditSubject s;
  if (!tenant.empty()) {
    s.tenant = tenant;
  }
  s.detail = detail;
  audit(e, ok, why, s);
}

std::uint64_t Events::access_write_failures() const noexcept {
  return access_.file().write_failures();
}

std::uint64_t Events::audit_write_failures() const noexcept {
  return audit_.file().write_failures();
}

}  // namespace portcullis::gateway::events
