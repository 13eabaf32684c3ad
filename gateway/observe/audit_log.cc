#include "gateway/observe/audit_log.h"

#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <syslog.h>

namespace portcullis::gateway::observe {

std::string_view to_string(Decision d) noexcept {
  return d == Decision::allow ? "allow" : "deny";
}

std::string format_audit(std::string_view event, Decision decision, std::string_view reason,
                         const AuditSubject& s, std::string_view time) {
  JsonLine j;
  j.add("time", time).add("event", event).add("decision", to_string(decision)).add("reason",
                                                                                     reason);
  const std::pair<std::string_view, const std::optional<std::string>*> fields[] = {
      {"tenant", &s.tenant}, {"source", &s.source},     {"destination", &s.destination},
      {"identity", &s.identity}, {"file", &s.file}, {"detail", &s.detail}};
  for (const auto& [key, value] : fields) {
    if (value->has_value()) {
      j.add(key, **value);
    }
  }
  return j.str();
}

bool read_chain_key(const std::string& path, std::string& key, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read audit key " + path;
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  key = ss.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ' ||
                          key.back() == '\t')) {
    key.pop_back();
  }
  if (key.empty()) {
    error = "audit key " + path + " is empty";
    return false;
  }
  return true;
}

bool AuditLog::open(const std::string& path, const std::string& key_file, std::string* error) {
  std::string key;
  std::string err;
  if (!key_file.empty() && !read_chain_key(key_file, key, err)) {
    if (error != nullptr) {
      *error = err;
    }
    return false;
  }
  {
    std::lock_guard lock(chain_mu_);
    hasher_ = ChainHasher(std::move(key));
    state_ = ChainState{};
  }
  if (!file_.open(path, 2, LOG_AUTHPRIV | LOG_NOTICE)) {
    if (error != nullptr) {
      *error = "cannot open audit log " + path;
    }
    return false;
  }
  resume_from_file();
  return true;
}

bool AuditLog::reopen() noexcept {
  const bool ok = file_.reopen();
  // A rotated (new, empty) file keeps the in-memory chain; a file with chained lines (the same
  // file, or one another process writes) continues after its last line.
  resume_from_file();
  return ok;
}

void AuditLog::resume_from_file() noexcept {
  try {
    std::lock_guard lock(chain_mu_);
    file_.with_fd([&](int fd) {
      struct stat st {};
      if (fd < 0 || ::fstat(fd, &st) != 0) {
        return;
      }
      known_end_ = st.st_size;
      if (st.st_size > 0) {
        // By path: the log's descriptor is write-only (O_APPEND).
        const std::string last = read_last_line(file_.path());
        if (parse_chain_fields(last)) {
          state_ = resume_after(last, hasher_);
        }
      }
    });
  } catch (...) {
  }
}

void AuditLog::record(std::string_view event, Decision decision, std::string_view reason,
                      const AuditSubject& subject) noexcept {
  if (!file_.enabled()) {
    return;
  }
  try {
    const std::string body = format_audit(event, decision, reason, subject, rfc3339_now());
    std::lock_guard lock(chain_mu_);
    file_.write_exclusive([&](int fd) {
      struct stat st {};
      if (fd >= 0 && ::fstat(fd, &st) == 0) {
        if (st.st_size > known_end_) {
          // Another writer (the process we took over from, or the one taking over) appended
          // since our last line: continue after its line, so the file keeps one chain. A file
          // that shrank keeps our chain, so the cut shows in `audit verify`.
          const std::string last = read_last_line(file_.path());
          if (parse_chain_fields(last)) {
            state_ = resume_after(last, hasher_);
          }
        }
        known_end_ = st.st_size;
      }
      std::string line = chain_line(state_, hasher_, body);
      known_end_ += static_cast<std::int64_t>(line.size()) + 1;
      return line;
    });
  } catch (...) {
    // Only allocation can fail here; the decision itself has already been enforced.
  }
}

void AuditLog::config_loaded(bool reload, std::uint64_t generation,
                             const std::string& file) noexcept {
  try {
    AuditSubject s;
    s.file = file;
    s.detail = "generation " + std::to_string(generation);
    record(reload ? kEventConfigReload : kEventConfigLoad, Decision::allow, "valid", s);
  } catch (...) {
  }
}

void AuditLog::config_rejected(bool reload, const std::string& file,
                               const std::string& first_error) noexcept {
  try {
    AuditSubject s;
    s.file = file;
    s.detail = first_error;
    record(reload ? kEventConfigReload : kEventConfigLoad, Decision::deny, "invalid_config", s);
  } catch (...) {
  }
}

void AuditLog::cert_reloaded(const std::string& tenant, const std::string& file) noexcept {
  try {
    AuditSubject s;
    s.tenant = tenant;
    s.file = file;
    record(kEventCertReload, Decision::allow, "changed", s);
  } catch (...) {
  }
}

void AuditLog::plaintext_upstream(const std::string& tenant, const std::string& cluster) noexcept {
  try {
    AuditSubject s;
    s.tenant = tenant;
    s.destination = cluster;
    record(kEventPlaintextUpstream, Decision::allow, "plaintext_configured", s);
  } catch (...) {
  }
}

}  // namespace portcullis::gateway::observe
