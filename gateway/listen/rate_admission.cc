#include "gateway/listen/rate_admission.h"

#include <chrono>
#include <cstdio>
#include <vector>

#include "gateway/events/events.h"
#include "gateway/http/local_reply.h"

namespace portcullis::gateway::listen {

namespace {

std::string describe(const runtime::RateLimitChange& c) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%g requests/s burst %g per worker", c.rate, c.burst);
  return buf;
}

events::Events::RateLimitSubject subject(const runtime::RateLimitChange& c, unsigned worker) {
  events::Events::RateLimitSubject s;
  s.scope = c.scope;
  s.tenant = c.tenant;
  s.client = c.client;
  s.worker = worker;
  s.detail = describe(c);
  return s;
}

}  // namespace

bool refuse_if_rate_limited(upstream::WorkerContext& worker, const runtime::Snapshot& snap,
                            const runtime::TenantRuntime& tenant, const http::ConnFacts& facts,
                            http::Exchange& ex) {
  runtime::RateLimiter* limiter = worker.rate_limiter();
  const config::TenantConfig& cfg = *tenant.cfg;
  const config::Limits& limits = snap.config.limits;
  if (limiter == nullptr ||
      (cfg.requests_per_second == 0 && limits.client_requests_per_second == 0)) {
    return false;
  }
  const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::vector<runtime::RateLimitChange> changes;
  const runtime::RateLimiter::Verdict v =
      limiter->admit(cfg.name, {cfg.requests_per_second, cfg.request_burst}, facts.client_ip,
                     {limits.client_requests_per_second, limits.client_request_burst}, now,
                     changes);
  events::Events& events = worker.events();
  for (const auto& c : changes) {
    events.rate_limit_changed(subject(c, worker.worker_id()), c.limiting);
  }
  if (v.allowed) {
    return false;
  }
  events::Events::RateLimitSubject who;
  who.scope = v.scope;
  who.tenant = cfg.name;
  events.rate_limited_request(who);
  ex.info().tenant = cfg.name;
  http::send(ex, http::rate_limited_reply(v.retry_after));
  return true;
}

}  // namespace portcullis::gateway::listen
