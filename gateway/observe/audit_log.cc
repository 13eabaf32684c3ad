#include "gateway/observe/audit_log.h"

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

void AuditLog::record(std::string_view event, Decision decision, std::string_view reason,
                      const AuditSubject& subject) noexcept {
  if (!file_.enabled()) {
    return;
  }
  try {
    file_.write(format_audit(event, decision, reason, subject, rfc3339_now()));
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
