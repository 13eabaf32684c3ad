#include "gateway/snapshot/rate_limiter.h"

namespace portcullis::gateway::runtime {

RateLimitChange RateLimiter::change(const Entry& e, std::string_view scope, bool limiting) {
  RateLimitChange c;
  c.scope = scope;
  c.tenant = scope == "tenant" ? e.key : e.tenant;
  if (scope == "client") {
    c.client = e.key;
  }
  c.limiting = limiting;
  c.rate = e.bucket.rate();
  c.burst = e.bucket.burst();
  return c;
}

RateLimiter::Verdict RateLimiter::check(Entry& e, std::string_view scope, RateSettings s,
                                        const std::string& tenant, std::int64_t now_ns,
                                        std::vector<RateLimitChange>& changes) {
  if (e.settings.requests_per_second != s.requests_per_second || e.settings.burst != s.burst) {
    e.settings = s;  // a reload changed them
    e.bucket.reconfigure(s.requests_per_second, s.burst);
  }
  if (e.bucket.take(now_ns)) {
    return {};
  }
  e.last_refused_ns = now_ns;
  if (!e.limiting) {
    e.limiting = true;
    e.tenant = tenant;
    ++limiting_;
    changes.push_back(change(e, scope, true));
  }
  return {false, scope, e.bucket.retry_after_seconds(now_ns)};
}

RateLimiter::Entry& RateLimiter::client_entry(const std::string& client, RateSettings s,
                                              std::int64_t now_ns,
                                              std::vector<RateLimitChange>& changes) {
  if (const auto it = index_.find(client); it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);  // iterators and keys stay valid
    return *it->second;
  }
  if (index_.size() >= max_clients_ && !lru_.empty()) {
    Entry& old = lru_.back();
    if (old.limiting) {
      --limiting_;
      changes.push_back(change(old, "client", false));
    }
    index_.erase(old.key);
    lru_.pop_back();
  }
  lru_.push_front(Entry{client, {}, TokenBucket(s.requests_per_second, s.burst, now_ns), s});
  index_.emplace(lru_.front().key, lru_.begin());
  return lru_.front();
}

void RateLimiter::scan(std::int64_t now_ns, std::vector<RateLimitChange>& changes) {
  if (limiting_ == 0 || now_ns < next_scan_ns_) {
    return;
  }
  next_scan_ns_ = now_ns + kQuietNs;
  auto quiet = [&](Entry& e, std::string_view scope) {
    if (e.limiting && now_ns - e.last_refused_ns >= kQuietNs) {
      e.limiting = false;
      --limiting_;
      changes.push_back(change(e, scope, false));
    }
  };
  for (auto& [name, e] : tenants_) {
    quiet(e, "tenant");
  }
  for (Entry& e : lru_) {
    quiet(e, "client");
  }
}

RateLimiter::Verdict RateLimiter::admit(const std::string& tenant, RateSettings tenant_limit,
                                        const std::string& client, RateSettings client_limit,
                                        std::int64_t now_ns,
                                        std::vector<RateLimitChange>& changes) {
  scan(now_ns, changes);
  // The client first: a client refused on its own limit does not spend its tenant's tokens.
  if (client_limit.requests_per_second > 0) {
    Entry& e = client_entry(client, client_limit, now_ns, changes);
    if (Verdict v = check(e, "client", client_limit, tenant, now_ns, changes); !v.allowed) {
      return v;
    }
  }
  if (tenant_limit.requests_per_second > 0) {
    auto it = tenants_.find(tenant);
    if (it == tenants_.end()) {
      it = tenants_
               .emplace(tenant, Entry{tenant, tenant,
                                      TokenBucket(tenant_limit.requests_per_second,
                                                  tenant_limit.burst, now_ns),
                                      tenant_limit})
               .first;
    }
    return check(it->second, "tenant", tenant_limit, tenant, now_ns, changes);
  }
  return {};
}

}  // namespace portcullis::gateway::runtime
