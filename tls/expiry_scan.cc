#include "tls/expiry_scan.h"

#include <sys/resource.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstring>
#include <ctime>

namespace portcullis::tls {
namespace {

// One DER element at `p` (within `end`): its tag, and its contents as [*body, *body + *len).
bool der_element(const unsigned char*& p, const unsigned char* end, unsigned char& tag,
                 const unsigned char*& body, std::size_t& len) noexcept {
  if (end - p < 2) {
    return false;
  }
  tag = p[0];
  std::size_t n = p[1];
  p += 2;
  if (n & 0x80) {
    const std::size_t bytes = n & 0x7f;
    if (bytes == 0 || bytes > 4 || static_cast<std::size_t>(end - p) < bytes) {
      return false;
    }
    n = 0;
    for (std::size_t i = 0; i < bytes; ++i) {
      n = (n << 8) | *p++;
    }
  }
  if (static_cast<std::size_t>(end - p) < n) {
    return false;
  }
  body = p;
  len = n;
  p += n;
  return true;
}

// notAfter of one DER certificate, read from tbsCertificate's validity without decoding the
// rest (an X509 parse decodes the public key too: about ten times the cost). 0 if malformed.
std::int64_t der_not_after(const unsigned char* der, std::size_t der_len) noexcept {
  const unsigned char* p = der;
  unsigned char tag = 0;
  const unsigned char* body = nullptr;
  std::size_t len = 0;
  if (!der_element(p, der + der_len, tag, body, len) || tag != 0x30) {  // Certificate
    return 0;
  }
  p = body;
  const unsigned char* end = body + len;
  if (!der_element(p, end, tag, body, len) || tag != 0x30) {  // tbsCertificate
    return 0;
  }
  p = body;
  end = body + len;
  // [0] version (optional), serialNumber, signature, issuer, then validity.
  if (!der_element(p, end, tag, body, len)) {
    return 0;
  }
  if (tag == 0xa0 && !der_element(p, end, tag, body, len)) {
    return 0;
  }
  for (int skip = 0; skip < 2; ++skip) {  // signature, issuer
    if (!der_element(p, end, tag, body, len)) {
      return 0;
    }
  }
  if (!der_element(p, end, tag, body, len) || tag != 0x30) {  // validity
    return 0;
  }
  p = body;
  end = body + len;
  const unsigned char* time_start = nullptr;
  for (int field = 0; field < 2; ++field) {  // notBefore, notAfter
    time_start = p;
    if (!der_element(p, end, tag, body, len) || (tag != 0x17 && tag != 0x18)) {
      return 0;
    }
  }
  const unsigned char* q = time_start;
  ASN1_TIME* t = d2i_ASN1_TIME(nullptr, &q, p - time_start);
  if (t == nullptr) {
    return 0;
  }
  std::tm tm{};
  const bool ok = ASN1_TIME_to_tm(t, &tm) == 1;
  ASN1_TIME_free(t);
  return ok ? static_cast<std::int64_t>(timegm(&tm)) : 0;
}

// The leaf's notAfter and the earliest of the file's certificates; false if none is readable.
bool read_not_after(const std::string& path, std::int64_t& leaf, std::int64_t& earliest) {
  BIO* bio = BIO_new_file(path.c_str(), "r");
  if (bio == nullptr) {
    return false;
  }
  leaf = 0;
  earliest = 0;
  for (int i = 0; i < 16; ++i) {  // a chain is a few certificates; bounded either way
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* der = nullptr;
    long len = 0;
    if (PEM_read_bio(bio, &name, &header, &der, &len) != 1) {
      break;
    }
    const bool cert = std::strcmp(name, PEM_STRING_X509) == 0;
    const std::int64_t at = cert ? der_not_after(der, static_cast<std::size_t>(len)) : 0;
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    if (at == 0) {
      continue;
    }
    if (leaf == 0) {
      leaf = at;
      earliest = at;
    }
    earliest = std::min(earliest, at);
  }
  BIO_free(bio);
  ERR_clear_error();  // the end of the file reads as a PEM error
  return leaf != 0;
}

}  // namespace

ExpiryScanner& ExpiryScanner::instance() {
  static ExpiryScanner* scanner = new ExpiryScanner;  // never destroyed: its thread outlives main
  return *scanner;
}

void ExpiryScanner::scan(std::vector<std::shared_ptr<LazyContext>> tenants) {
  std::lock_guard lock(mu_);
  next_ = std::move(tenants);
  has_next_ = true;
  more_.clear();  // the new list holds them
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread([this] { run(); });
    } catch (...) {
      return;  // no thread: no expiry series for unbuilt tenants, everything else works
    }
  }
  cv_.notify_one();
}

void ExpiryScanner::add(std::vector<std::shared_ptr<LazyContext>> tenants) {
  if (tenants.empty()) {
    return;
  }
  std::lock_guard lock(mu_);
  if (!thread_.joinable()) {
    next_ = std::move(tenants);  // nothing scanned yet: a list of its own
    has_next_ = true;
    try {
      thread_ = std::thread([this] { run(); });
    } catch (...) {
      return;
    }
  } else if (has_next_) {
    next_.insert(next_.end(), tenants.begin(), tenants.end());
  } else {
    more_.insert(more_.end(), tenants.begin(), tenants.end());
  }
  cv_.notify_one();
}

std::uint64_t ExpiryScanner::files_read() const noexcept {
  std::lock_guard lock(mu_);
  return files_read_;
}

void ExpiryScanner::run() noexcept {
  // Lowest priority: this is bookkeeping, never worth a worker's time (Linux: per thread).
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19);
  std::vector<std::shared_ptr<LazyContext>> list;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return has_next_ || !more_.empty(); });
    if (has_next_) {
      list.swap(next_);
      next_.clear();
      has_next_ = false;
    } else {
      list.swap(more_);
      more_.clear();
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (has_next_) {
        break;  // a newer generation's list replaces this one
      }
      LazyContext& t = *list[i];
      if (t.file_leaf_not_after() != 0) {
        continue;
      }
      lock.unlock();
      std::int64_t leaf = 0;
      std::int64_t earliest = 0;
      if (read_not_after(t.spec().cert_chain, leaf, earliest)) {
        t.set_file_not_after(leaf, earliest);
      }
      lock.lock();
      files_read_ += 1;
    }
    lock.unlock();
    list.clear();  // may free LazyContexts of a retired generation: outside the lock
    lock.lock();
  }
}

}  // namespace portcullis::tls
