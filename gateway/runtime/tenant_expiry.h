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

}  // namespace portcullis::gateway::runtime
