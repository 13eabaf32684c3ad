// After start-up and each reload: read the certificate expiry of tenants built on demand, off
// the loop (tls/expiry_scan.h), so /metrics has portcullis_certificate_expiry_seconds for
// every tenant, built or not.
#pragma once

#include <memory>
#include <vector>

#include "gateway/snapshot/snapshot.h"
#include "tls/expiry_scan.h"

namespace portcullis::gateway::runtime {

inline void scan_tenant_expiry(const Snapshot& snap) {
  std::vector<std::shared_ptr<tls::LazyContext>> lazy;
  for (const auto& t : snap.tenants) {
    if (t.lazy) {
      lazy.push_back(t.lazy);
    }
  }
  if (!lazy.empty()) {
    tls::ExpiryScanner::instance().scan(std::move(lazy));
  }
}

// After a reload that shares tenant runtimes with `before` at the same indexes (a per-tenant
// reload): only the others are new, and only they are added to the scan; the pass started for
// the shared ones goes on. Otherwise (none shared) the whole list, as scan_tenant_expiry().
inline void scan_new_tenant_expiry(const Snapshot& before, const Snapshot& after) {
  if (before.tenants.size() != after.tenants.size()) {
    scan_tenant_expiry(after);
    return;
  }
  std::vector<std::shared_ptr<tls::LazyContext>> lazy;
  bool shared = false;
  for (std::size_t i = 0; i < after.tenants.size();) {
    if (const std::size_t run = after.tenants.same_run(i, before.tenants); run > 0) {
      shared = true;
      i += run;  // a chunk both share: one comparison
      continue;
    }
    if (after.tenants[i].lazy) {
      lazy.push_back(after.tenants[i].lazy);
    }
    ++i;
  }
  if (!shared) {
    scan_tenant_expiry(after);  // a full reload: the new list replaces the running pass
    return;
  }
  tls::ExpiryScanner::instance().add(std::move(lazy));
}

}  // namespace portcullis::gateway::runtime
