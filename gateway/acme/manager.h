// Manager: keeps every `[tls] acme = true` tenant's certificate issued and renewed.
//
// Schedule: a tenant is due when its file holds no ACME certificate for all its hosts (absent,
// the self-signed placeholder, other hosts) or when its renewal time has come: the CA's ARI
// window (RFC 9773) when the directory offers renewalInfo, else two thirds of the lifetime,
// with jitter either way. A failure is retried after an exponential backoff (retry_base,
// doubling, capped by retry_cap, jittered) or after the CA's Retry-After if longer.
// Orders in flight are bounded by [acme].max_orders: that many threads take due tenants.
// Install: key and chain are written (mode 0600, rename into place) to the tenant's cert/key
// paths in the state directory; the Watcher sees them and the ordinary reload serves them, so
// the old certificate serves until the new one is in place, and a failure changes nothing.
// Thread: update()/status() from any thread (one mutex); the work on the manager's threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "certs/ptr.h"
#include "gateway/config/config.h"
#include "gateway/observe/audit_log.h"
#include "gateway/observe/metrics.h"
#include "gateway/observe/reason.h"

namespace portcullis::gateway::acme {

struct TenantStatus {
  std::string tenant;
  std::vector<std::string> hosts;
  std::string state = "pending";  // pending | ordering | valid | failed
  std::int64_t not_after = 0;     // unix seconds; 0: no ACME certificate yet
  std::int64_t renew_at = 0;      // when the current certificate is renewed
  std::int64_t next_attempt = 0;  // when the manager looks at this tenant again
  unsigned failures = 0;          // consecutive
  std::string last_error;
};

class Manager {
 public:
  using Audit = std::function<void(observe::AuditEvent, bool ok, Reason, const std::string& tenant,
                                   const std::string& detail)>;
  // `metrics` may be null. Threads start at the first update() that has [acme].
  Manager(Audit audit, observe::Registry* metrics);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // The running config's ACME tenants (after every load and reload).
  void update(const config::Config& cfg);
  std::vector<TenantStatus> status() const;
  void stop();

  // Backoff after the n-th consecutive failure (n >= 1), before jitter.
  static std::chrono::seconds backoff(unsigned failures, std::chrono::seconds base,
                                      std::chrono::seconds cap);

 private:
  struct Entry {
    config::TenantConfig cfg;
    TenantStatus st;
    bool busy = false;
  };
  void worker_main();
  void handle(const std::string& tenant);
  std::string fail_locked(Entry& e, const std::string& why, std::chrono::seconds retry_after);
  void write_status_locked() const;

  Audit audit_;
  observe::CounterFamily* orders_ = nullptr;
  observe::CallbackRegistration expiry_gauge_, renewal_gauge_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  config::AcmeSection acme_;
  certs::EvpPkeyPtr account_key_;
  std::map<std::string, Entry> tenants_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

}  // namespace portcullis::gateway::acme
