#include "gateway/config/profile.h"

#include <fstream>

#include "certs/pem.h"
#include "gateway/config/analyze.h"

namespace portcullis::gateway::config {
namespace {

constexpr std::int64_t kMaxLifetimeSeconds = 398LL * 24 * 3600;  // CA/Browser Forum limit

// Rule ids (README "Compliance profiles").
constexpr std::string_view kMinTls = "min-tls";
constexpr std::string_view kPlaintextUpstream = "plaintext-upstream";
constexpr std::string_view kEgressClientAuth = "egress-client-auth";
constexpr std::string_view kAuditLog = "audit-log";
constexpr std::string_view kAuditChain = "audit-chain-key";
constexpr std::string_view kRsaKeySize = "rsa-key-size";
constexpr std::string_view kCertLifetime = "cert-lifetime";
constexpr std::string_view kClientCa = "client-ca";
constexpr std::string_view kAdminAuth = "admin-auth";

// The position of the first line of `file` that starts with `needle` (after blanks), or the
// file itself: for settings the loader keeps no position for ([log]).
Pos find_line(const std::string& file, std::string_view needle) {
  std::ifstream in(file);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const auto start = line.find_first_not_of(" \t");
    if (start != std::string::npos && std::string_view(line).substr(start).starts_with(needle)) {
      return Pos{file, n, static_cast<int>(start) + 1};
    }
  }
  return Pos{file, 1, 1};
}

class Checker {
 public:
  Checker(const Config& cfg, std::string_view profile) : cfg_(cfg), profile_(profile) {}

  std::vector<Diagnostic> run() {
    // min-tls: the loader accepts only "1.2" and "1.3" for every min_tls, so a configuration
    // below TLS 1.2 never loads; nothing is left to find here.
    for (const auto& t : cfg_.tenants) {
      tenant(t);
    }
    for (const auto& l : cfg_.listeners) {
      if (l.kind == ListenerConfig::Kind::egress &&
          l.client_auth == ListenerConfig::ClientAuth::none) {
        add(kEgressClientAuth, l.pos,
            "egress listener \"" + l.name + "\" does not authenticate workloads (client_auth "
            "= \"none\")",
            "client_auth = \"mesh\"");
      }
    }
    if (cfg_.log.audit.empty()) {
      add(kAuditLog, find_line(cfg_.file, "[log]"), "the audit log is off",
          "[log] audit = \"/var/log/portcullis/audit.log\" (or \"syslog\")");
    } else if (cfg_.log.audit_key.empty()) {
      add(kAuditChain, find_line(cfg_.file, "audit"),
          "the audit log's hash chain is not keyed: anyone who can write the file can edit it "
          "and re-chain it",
          "[log] audit_key = \"FILE\" (a secret the gateway reads at start)");
    }
    if (admin_unauthenticated_off_loopback(cfg_.admin)) {
      add(kAdminAuth, cfg_.admin.pos,
          "the admin listener " + cfg_.admin.listen +
              " is reachable beyond loopback with neither a token nor client certificates",
          "[admin] token_file = \"FILE\", or cert + key + client_ca, or a loopback address");
    }
    if (!cfg_.mesh.key.empty()) {
      key(cfg_.mesh.key, cfg_.mesh.pos_key, "[mesh] key");
    }
    if (!cfg_.mesh.cert.empty()) {
      lifetime(cfg_.mesh.cert, cfg_.mesh.pos_cert, "[mesh] cert");
    }
    return std::move(out_);
  }

 private:
  void add(std::string_view rule_id, const Pos& pos, const std::string& msg,
           std::string accepted = {}) {
    for (const auto& r : profile_rules()) {
      if (r.id != rule_id) {
        continue;
      }
      const std::string_view control = profile_ == "hipaa" ? r.hipaa : r.soc2;
      if (control.empty()) {
        return;  // not a rule of this profile
      }
      Diagnostic d;
      d.pos = pos;
      d.message = "[" + std::string(profile_) + " " + std::string(rule_id) + ", " +
                  std::string(control) + "] " + msg;
      d.accepted = std::move(accepted);
      out_.push_back(std::move(d));
    }
  }

  void tenant(const TenantConfig& t) {
    for (const auto& c : t.clusters) {
      if (c.plaintext) {
        add(kPlaintextUpstream, c.pos,
            "cluster \"" + c.name + "\" of tenant \"" + t.name + "\" is plaintext",
            "mesh mTLS (remove plaintext = true; set identity)");
      }
    }
    if (t.client_ca.empty()) {
      add(kClientCa, t.pos_cert.file.empty() ? Pos{t.file, 1, 1} : t.pos_cert,
          "tenant \"" + t.name + "\" does not authenticate its clients (no [tls] client_ca)",
          "[tls] client_ca = \"FILE\"");
    }
    if (!t.key.empty()) {
      key(t.key, t.pos_key, "tenant \"" + t.name + "\" key");
    }
    if (!t.cert.empty()) {
      lifetime(t.cert, t.pos_cert, "tenant \"" + t.name + "\" certificate");
    }
  }

  // Unreadable files are `check`'s own errors already; the profile judges what it can read.
  void key(const std::string& path, const Pos& pos, const std::string& what) {
    certs::EvpPkeyPtr k;
    certs::LoadError err;
    if (!certs::load_key(path, k, err) || !k) {
      return;
    }
    const certs::KeyInfo info = certs::key_info(k.get());
    if (info.type == "RSA" && info.bits < 2048) {
      add(kRsaKeySize, pos, what + " is RSA " + std::to_string(info.bits) + " bits",
          "RSA >= 2048 bits, or EC P-256 / P-384");
    }
  }

  void lifetime(const std::string& path, const Pos& pos, const std::string& what) {
    certs::Chain chain;
    certs::LoadError err;
    if (!certs::load_chain(path, chain, err) || chain.certs.empty()) {
      return;
    }
    X509* leaf = chain.certs.front().get();
    const std::int64_t days =
        (certs::not_after_unix(leaf) - certs::not_before_unix(leaf)) / (24 * 3600);
    if (certs::not_after_unix(leaf) - certs::not_before_unix(leaf) > kMaxLifetimeSeconds) {
      add(kCertLifetime, pos,
          what + " " + path + " is valid for " + std::to_string(days) + " days",
          "at most 398 days");
    }
  }

  const Config& cfg_;
  std::string_view profile_;
  std::vector<Diagnostic> out_;
};

}  // namespace

const std::vector<ProfileRule>& profile_rules() {
  static const std::vector<ProfileRule> rules = {
      {kMinTls, "164.312(e)(1)", "CC6.7", "TLS below 1.2 anywhere (refused by the loader)"},
      {kPlaintextUpstream, "164.312(e)(1)", "CC6.7", "a cluster with plaintext = true"},
      {kEgressClientAuth, "164.312(d)", "CC6.1",
       "an egress listener with client_auth = \"none\""},
      {kAuditLog, "164.312(b)", "CC7.2", "[log] audit off"},
      {kAuditChain, "164.312(b)", "CC7.2", "an audit chain without [log] audit_key"},
      {kRsaKeySize, "164.312(e)(1)", "CC6.7", "an RSA key below 2048 bits (tenant or mesh)"},
      {kCertLifetime, "164.312(e)(1)", "CC6.7",
       "a tenant or mesh certificate valid for more than 398 days"},
      {kClientCa, "164.312(d)", "", "a tenant without [tls] client_ca"},
      {kAdminAuth, "164.312(a)(1)", "CC6.1",
       "an admin listener beyond loopback without token_file or client_ca"},
  };
  return rules;
}

bool known_profile(std::string_view profile) { return profile == "hipaa" || profile == "soc2"; }

std::vector<Diagnostic> profile_findings(const Config& cfg, std::string_view profile,
                                         std::int64_t now_unix) {
  (void)now_unix;  // lifetimes are judged on the certificate alone; kept for time-based rules
  return Checker(cfg, profile).run();
}

}  // namespace portcullis::gateway::config
