// AuditLog: one JSON line per security decision or configuration/certificate change.
//
// Fields (CONTRACT.md): time, event, decision ("allow"/"deny"), reason, then the subject fields
// that are set: tenant, source, destination, identity, file, detail. Event names are constants
// below; add, never rename (operators alert on them).
//
// Every line is hash-chained (audit_chain.h): it starts with "seq" and "prev". open() and
// reopen() continue the chain from the file's last line, so restarts and rotation keep it whole;
// `portcullis audit verify` checks it.
//
// Thread: record() from any thread (lines are chained under one mutex, and written under an
// exclusive flock so two processes sharing the file during a takeover keep one chain);
// open()/reopen() from the main thread. Owns its LogFile.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/observe/access_log.h"
#include "gateway/observe/audit_chain.h"

namespace portcullis::gateway::observe {

inline constexpr std::string_view kEventTlsReject = "tls_reject";
inline constexpr std::string_view kEventEgressDeny = "egress_deny";
inline constexpr std::string_view kEventEgressAllow = "egress_allow";
inline constexpr std::string_view kEventMtlsFail = "mtls_fail";
inline constexpr std::string_view kEventConfigLoad = "config_load";      // at start
inline constexpr std::string_view kEventConfigReload = "config_reload";  // SIGHUP / file change
inline constexpr std::string_view kEventCertReload = "cert_reload";
inline constexpr std::string_view kEventPlaintextUpstream = "plaintext_upstream";  // at start
inline constexpr std::string_view kEventMemoryBudget = "memory_budget";  // shedding on / off
inline constexpr std::string_view kEventRateLimit = "rate_limit";  // limiting starts / stops

inline constexpr std::string_view kEventProxyReject = "proxy_reject";      // PROXY header
inline constexpr std::string_view kEventEgressTlsFail = "egress_tls_fail";
inline constexpr std::string_view kEventTicketKeys = "ticket_keys";
// A tenant whose files have errors: quarantined or kept at its previous version (deny), or
// back in service (allow).
inline constexpr std::string_view kEventTenantState = "tenant_state";
inline constexpr std::string_view kEventAcmeIssue = "acme_issue";          // issued or renewed
inline constexpr std::string_view kEventAcmeFail = "acme_fail";            // an order failed
inline constexpr std::string_view kEventAcmeChallenge = "acme_challenge";  // a challenge answered
inline constexpr std::string_view kEventUpgrade = "upgrade";  // SIGUSR2: taken over, or refused
// A request to the admin listener refused for its missing or wrong bearer token.
inline constexpr std::string_view kEventAdminReject = "admin_reject";

// Every audit event; to_string gives the kEvent* word above. events::Events takes only these.
enum class AuditEvent : std::uint8_t {
  tls_reject,
  proxy_reject,
  egress_deny,
  egress_allow,
  egress_tls_fail,
  mtls_fail,
  config_load,
  config_reload,
  cert_reload,
  plaintext_upstream,
  ticket_keys,
  memory_budget,
  tenant_state,
  rate_limit,
  acme_issue,
  acme_fail,
  acme_challenge,
  upgrade,
  admin_reject,
};

constexpr std::string_view to_string(AuditEvent e) noexcept {
  switch (e) {
    case AuditEvent::tls_reject: return kEventTlsReject;
    case AuditEvent::proxy_reject: return kEventProxyReject;
    case AuditEvent::egress_deny: return kEventEgressDeny;
    case AuditEvent::egress_allow: return kEventEgressAllow;
    case AuditEvent::egress_tls_fail: return kEventEgressTlsFail;
    case AuditEvent::mtls_fail: return kEventMtlsFail;
    case AuditEvent::config_load: return kEventConfigLoad;
    case AuditEvent::config_reload: return kEventConfigReload;
    case AuditEvent::cert_reload: return kEventCertReload;
    case AuditEvent::plaintext_upstream: return kEventPlaintextUpstream;
    case AuditEvent::ticket_keys: return kEventTicketKeys;
    case AuditEvent::memory_budget: return kEventMemoryBudget;
    case AuditEvent::tenant_state: return kEventTenantState;
    case AuditEvent::rate_limit: return kEventRateLimit;
    case AuditEvent::acme_issue: return kEventAcmeIssue;
    case AuditEvent::acme_fail: return kEventAcmeFail;
    case AuditEvent::acme_challenge: return kEventAcmeChallenge;
    case AuditEvent::upgrade: return kEventUpgrade;
    case AuditEvent::admin_reject: return kEventAdminReject;
  }
  return "unknown";
}

enum class Decision : std::uint8_t { allow, deny };
std::string_view to_string(Decision d) noexcept;

// Who and what a decision was about; unset fields are left out of the line.
struct AuditSubject {
  std::optional<std::string> tenant;
  std::optional<std::string> source;       // source identity (SPIFFE ID) or client address
  std::optional<std::string> destination;  // host:port, cluster or endpoint
  std::optional<std::string> identity;     // peer identity presented
  std::optional<std::string> file;         // config or certificate file
  std::optional<std::string> detail;       // free text (e.g. the first diagnostic)
};

std::string format_audit(std::string_view event, Decision decision, std::string_view reason,
                         const AuditSubject& subject, std::string_view time);

class AuditLog {
 public:
  // "-" writes to stderr (config.h LogSection), "" disables. `key_file` (optional): the HMAC key
  // of the chain ([log] audit_key); false with `error` set when a file cannot be read.
  bool open(const std::string& path, const std::string& key_file = {},
            std::string* error = nullptr);
  bool reopen() noexcept;
  bool enabled() const noexcept { return file_.enabled(); }

  void record(std::string_view event, Decision decision, std::string_view reason,
              const AuditSubject& subject = {}) noexcept;

  // Helpers for the common events.
  void config_loaded(bool reload, std::uint64_t generation, const std::string& file) noexcept;
  void config_rejected(bool reload, const std::string& file,
                       const std::string& first_error) noexcept;
  void cert_reloaded(const std::string& tenant, const std::string& file) noexcept;
  void plaintext_upstream(const std::string& tenant, const std::string& cluster) noexcept;

  LogFile& file() noexcept { return file_; }

 private:
  // Continues the chain after the last line of the open file (if it has one).
  void resume_from_file() noexcept;

  LogFile file_;
  std::mutex chain_mu_;  // guards everything below
  ChainHasher hasher_;
  ChainState state_;
  std::int64_t known_end_ = 0;  // file size after our last line
};

// The key in `path` (trailing whitespace dropped); false when unreadable or empty.
bool read_chain_key(const std::string& path, std::string& key, std::string& error);

}  // namespace portcullis::gateway::observe
