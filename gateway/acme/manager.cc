#include "gateway/acme/manager.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <openssl/pem.h>

#include "certs/pem.h"
#include "gateway/acme/client.h"
#include "gateway/acme/jws.h"

namespace portcullis::gateway::acme {
namespace {

using Clock = std::chrono::system_clock;

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch())
      .count();
}

double uniform(double lo, double hi) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}

// Writes `data` to `path` through a temporary file in the same directory (mode 0600), so a
// reader sees the old file or the new one, never half of one.
bool write_private(const std::string& path, const std::string& data, std::string& err) {
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    err = "cannot write " + tmp;
    return false;
  }
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      err = "cannot write " + tmp;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    err = "cannot rename " + tmp;
    return false;
  }
  return true;
}

std::string key_pem(EVP_PKEY* key) {
  certs::BioPtr bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return {};
  }
  char* p = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &p);
  return std::string(p, static_cast<std::size_t>(n));
}

// The tenant's current ACME certificate: nullptr when absent, the placeholder, or not covering
// every host.
certs::X509Ptr current_cert(const config::TenantConfig& t) {
  certs::Chain chain;
  certs::LoadError le;
  if (!certs::load_chain(t.cert, chain, le) || chain.certs.empty()) {
    return nullptr;
  }
  X509* leaf = chain.certs.front().get();
  if (certs::subject_string(leaf).find(config::kAcmePlaceholderOrg) != std::string::npos) {
    return nullptr;
  }
  const auto sans = certs::dns_sans(leaf);
  for (const auto& h : t.hosts) {
    if (std::find(sans.begin(), sans.end(), h) == sans.end()) {
      return nullptr;
    }
  }
  return std::move(chain.certs.front());
}

// Two thirds of the lifetime, minus up to 1/30 of it: spread over hours for 90-day
// certificates, so a fleet issued together does not renew together.
std::int64_t default_renewal(X509* cert) {
  const std::int64_t nb = certs::not_before_unix(cert);
  const std::int64_t na = certs::not_after_unix(cert);
  const std::int64_t life = std::max<std::int64_t>(na - nb, 1);
  return nb + life * 2 / 3 - static_cast<std::int64_t>(uniform(0, static_cast<double>(life) / 30));
}

}  // namespace

std::chrono::seconds Manager::backoff(unsigned failures, std::chrono::seconds base,
                                      std::chrono::seconds cap) {
  const unsigned shift = std::min(failures == 0 ? 0u : failures - 1, 20u);
  const auto b = base * (std::int64_t{1} << shift);
  return std::min(b, cap);
}

Manager::Manager(Audit audit, observe::Registry* metrics) : audit_(std::move(audit)) {
  if (metrics == nullptr) {
    return;
  }
  orders_ = &metrics->counter("portcullis_acme_orders_total",
                              "ACME orders by result (issued, renewed, failed)", {"result"});
  expiry_gauge_ = metrics->callback_gauge(
      "portcullis_acme_certificate_expiry_seconds",
      "notAfter of each ACME tenant's certificate (unix seconds; 0 before the first)", {"tenant"},
      [this](observe::SampleSink& out) {
        for (const auto& s : status()) {
          out.add({s.tenant}, static_cast<double>(s.not_after));
        }
      });
  renewal_gauge_ = metrics->callback_gauge(
      "portcullis_acme_next_renewal_seconds",
      "When the manager next orders for each ACME tenant (unix seconds)", {"tenant"},
      [this](observe::SampleSink& out) {
        for (const auto& s : status()) {
          out.add({s.tenant}, static_cast<double>(s.next_attempt));
        }
      });
}

Manager::~Manager() {
  expiry_gauge_.reset();
  renewal_gauge_.reset();
  stop();
}

void Manager::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
  threads_.clear();
}

void Manager::update(const config::Config& cfg) {
  std::unique_lock lock(mu_);
  if (!cfg.acme.enabled || stopping_) {
    return;
  }
  acme_ = cfg.acme;
  if (!account_key_) {
    std::string err;
    account_key_ = load_or_create_key(acme_.state_dir + "/account.key", err);
    if (!account_key_) {
      std::fprintf(stderr, "portcullis: acme: %s\n", err.c_str());
      audit_(observe::AuditEvent::acme_fail, false, Reason::acme_failed, "", err);
      return;
    }
  }
  std::map<std::string, Entry> next;
  for (const auto& t : cfg.tenants) {
    if (!t.acme) {
      continue;
    }
    Entry e;
    if (auto it = tenants_.find(t.name); it != tenants_.end() && it->second.cfg.hosts == t.hosts) {
      e = std::move(it->second);  // keeps its schedule, backoff and busy flag
    } else {
      e.st.tenant = t.name;
      e.st.hosts = t.hosts;
    }
    e.cfg = t;
    next.emplace(t.name, std::move(e));
  }
  tenants_ = std::move(next);
  while (threads_.size() < acme_.max_orders) {
    threads_.emplace_back([this] { worker_main(); });
  }
  write_status_locked();
  lock.unlock();
  cv_.notify_all();
}

std::vector<TenantStatus> Manager::status() const {
  std::lock_guard lock(mu_);
  std::vector<TenantStatus> out;
  for (const auto& [name, e] : tenants_) {
    out.push_back(e.st);
  }
  return out;
}

void Manager::worker_main() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const std::int64_t now = now_unix();
    std::string due;
    std::int64_t soonest = now + 3600;
    for (auto& [name, e] : tenants_) {
      if (e.busy) {
        continue;
      }
      if (e.st.next_attempt <= now) {
        due = name;
        break;
      }
      soonest = std::min(soonest, e.st.next_attempt);
    }
    if (due.empty()) {
      cv_.wait_for(lock, std::chrono::seconds(std::max<std::int64_t>(soonest - now, 1)));
      continue;
    }
    tenants_[due].busy = true;
    lock.unlock();
    handle(due);
    lock.lock();
    if (auto it = tenants_.find(due); it != tenants_.end()) {
      it->second.busy = false;
    }
    write_status_locked();
  }
}

// One look at one tenant: schedule its renewal when its certificate is good, else order one.
void Manager::handle(const std::string& name) {
  std::unique_lock lock(mu_);
  auto it = tenants_.find(name);
  if (it == tenants_.end()) {
    return;
  }
  const config::TenantConfig t = it->second.cfg;
  const config::AcmeSection acme = acme_;
  EVP_PKEY* account = account_key_.get();
  lock.unlock();

  // One client per thread: its own curl handle, nonce and account URL.
  thread_local std::unique_ptr<AcmeClient> client;
  thread_local std::string client_dir;
  thread_local std::string current_tenant;
  current_tenant = t.name;
  if (!client || client_dir != acme.directory) {
    client = std::make_unique<AcmeClient>(
        acme, account, [this](const std::string& host, const std::string& type) {
          audit_(observe::AuditEvent::acme_challenge, true, Reason::acme_challenge,
                 current_tenant, type + " for " + host);
        });
    client_dir = acme.directory;
  }

  const std::int64_t now = now_unix();
  certs::X509Ptr cert = current_cert(t);
  if (cert) {
    std::int64_t renew_at = 0;
    {
      lock.lock();
      if (auto f = tenants_.find(name); f != tenants_.end() &&
                                        f->second.st.not_after == certs::not_after_unix(cert.get())) {
        renew_at = f->second.st.renew_at;  // this certificate's jittered time, picked once
      }
      lock.unlock();
    }
    std::int64_t retry = 0;
    if (renew_at == 0) {
      renew_at = default_renewal(cert.get());
      std::string err;
      std::chrono::seconds ra{0};
      if (client->ensure_account(err, ra) && client->offers_renewal_info()) {
        if (auto w = client->renewal_info(cert.get())) {
          renew_at = w->start + static_cast<std::int64_t>(uniform(0, static_cast<double>(w->end - w->start)));
          retry = w->retry_after.count();
        }
      }
    }
    if (now < renew_at) {
      lock.lock();
      auto f = tenants_.find(name);
      if (f == tenants_.end()) {
        return;  // removed by a reload meanwhile
      }
      auto& st = f->second.st;
      st.state = "valid";
      st.not_after = certs::not_after_unix(cert.get());
      st.renew_at = renew_at;
      st.next_attempt = retry > 0 ? std::min(renew_at, now + retry) : renew_at;
      return;
    }
  }

  {
    lock.lock();
    if (auto f = tenants_.find(name); f != tenants_.end()) {
      f->second.st.state = "ordering";
    }
    lock.unlock();
  }
  OrderResult r = client->order(t.hosts);
  std::string err;
  if (r.ok) {
    const std::string pem = key_pem(r.key.get());
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(t.cert).parent_path(), ec);
    // The key first: the Watcher reloads once both have changed (debounced), and a reload
    // between the two is refused (key and certificate disagree) and keeps the old pair serving.
    if (pem.empty() || !write_private(t.key, pem, err) || !write_private(t.cert, r.chain_pem, err)) {
      r.ok = false;
      r.error = err.empty() ? "cannot write the key" : err;
    }
  }
  lock.lock();
  auto found = tenants_.find(name);
  if (found == tenants_.end()) {
    return;
  }
  Entry& e = found->second;
  if (!r.ok) {
    const std::string detail = fail_locked(e, r.error, r.retry_after);
    lock.unlock();
    std::fprintf(stderr, "portcullis: acme: tenant %s: %s\n", name.c_str(), detail.c_str());
    audit_(observe::AuditEvent::acme_fail, false, Reason::acme_failed, name, detail);
    return;
  }
  const bool renewal = cert != nullptr;
  certs::Chain chain;
  certs::LoadError le;
  e.st.failures = 0;
  e.st.last_error.clear();
  e.st.state = "valid";
  e.st.not_after = 0;
  e.st.renew_at = 0;
  e.st.next_attempt = now_unix();  // look again now: schedules from the new certificate
  if (certs::load_chain(t.cert, chain, le) && !chain.certs.empty()) {
    e.st.not_after = certs::not_after_unix(chain.certs.front().get());
  }
  if (orders_ != nullptr) {
    orders_->with({renewal ? "renewed" : "issued"}).inc();
  }
  lock.unlock();
  std::fprintf(stderr, "portcullis: acme: tenant %s: certificate %s\n", name.c_str(),
               renewal ? "renewed" : "issued");
  audit_(observe::AuditEvent::acme_issue, true, renewal ? Reason::acme_renewed : Reason::acme_issued,
         name, t.cert);
}

std::string Manager::fail_locked(Entry& e, const std::string& why, std::chrono::seconds retry_after) {
  ++e.st.failures;
  auto wait = backoff(e.st.failures, std::chrono::duration_cast<std::chrono::seconds>(acme_.retry_base),
                      std::chrono::duration_cast<std::chrono::seconds>(acme_.retry_cap));
  // Up to a quarter more, so tenants that failed together do not retry together.
  wait += std::chrono::seconds(static_cast<std::int64_t>(uniform(0, static_cast<double>(wait.count()) / 4)));
  wait = std::max(wait, retry_after);
  e.st.state = "failed";
  e.st.last_error = why;
  e.st.next_attempt = now_unix() + std::max<std::int64_t>(wait.count(), 1);
  if (orders_ != nullptr) {
    orders_->with({"failed"}).inc();
  }
  return why + " (attempt " + std::to_string(e.st.failures) + ", next in " +
         std::to_string(wait.count()) + "s)";
}

// state_dir/status.json: what `portcullis certs acme status` shows next to the files.
void Manager::write_status_locked() const {
  if (acme_.state_dir.empty()) {
    return;
  }
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, e] : tenants_) {
    out[name] = {{"state", e.st.state},         {"not_after", e.st.not_after},
                 {"renew_at", e.st.renew_at},   {"next_attempt", e.st.next_attempt},
                 {"failures", e.st.failures},   {"last_error", e.st.last_error}};
  }
  std::string err;
  write_private(acme_.state_dir + "/status.json", out.dump(1) + "\n", err);
}

}  // namespace portcullis::gateway::acme
