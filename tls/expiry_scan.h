// ExpiryScanner: certificate expiry for tenants whose context is built on demand, without
// building it. Eager tenants' expiry comes from their build (snapshot CertFacts); a lazy tenant
// never built would have no series, and operators alert on every tenant's expiry.
//
// One background thread at the lowest priority (nice 19) reads each listed tenant's certificate
// file (base64 and the DER down to each certificate's validity: no X509 parse, no key, no
// SSL_CTX) and stores the leaf's notAfter and the
// chain's earliest on its LazyContext, where /metrics reads them. A LazyContext is shared by
// generations while its files are unchanged, so after a reload only new or changed tenants are
// read. Memory: two int64 per tenant plus the list (one shared_ptr per tenant) while a pass runs.
//
// Thread:   scan() from any thread (the main one, after start-up and reloads); one worker thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tls/lazy_context.h"

namespace portcullis::tls {

class ExpiryScanner {
 public:
  static ExpiryScanner& instance();
  // Replaces the list to read (a pass in progress moves on to the new one). Tenants already
  // read are skipped.
  void scan(std::vector<std::shared_ptr<LazyContext>> tenants);
  // Adds to what is to be read, after the pass in progress, which goes on (a per-tenant
  // reload's new tenants: the rest of the list is the same objects).
  void add(std::vector<std::shared_ptr<LazyContext>> tenants);
  std::uint64_t files_read() const noexcept;

 private:
  ExpiryScanner() = default;
  void run() noexcept;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<LazyContext>> next_;
  bool has_next_ = false;
  std::vector<std::shared_ptr<LazyContext>> more_;  // add()ed: read after the current list
  std::uint64_t files_read_ = 0;
  std::thread thread_;  // never joined: the singleton is never destroyed
};

}  // namespace portcullis::tls
