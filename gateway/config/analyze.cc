#include "gateway/config/analyze.h"

#include <ctime>
#include <filesystem>
#include <map>
#include <string>

#include "certs/pem.h"
#include "gateway/config/descriptor_limit.h"
#include "gateway/config/validate.h"
#include "tls/context.h"
#include "tls/tickets.h"

namespace portcullis::gateway::config {

namespace {

using Severity = Diagnostic::Severity;

std::string date(std::int64_t unix_seconds) {
  auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string describe(const certs::KeyInfo& k) {
  if (k.type == "EC") {
    return "EC " + (k.curve.empty() ? std::string("unknown curve") : k.curve);
  }
  return k.type + " " + std::to_string(k.bits) + " bits";
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return s;
}

// True when a certificate DNS SAN covers a configured host pattern. A SAN wildcard covers one
// label; a host wildcard is covered only by the same wildcard.
bool san_covers(std::string san, const std::string& host) {
  san = lower(san);
  if (san == host) {
    return true;
  }
  if (san.starts_with("*.") && !host.starts_with("*.")) {
    const auto dot = host.find('.');
    return dot != std::string::npos && host.substr(dot + 1) == san.substr(2);
  }
  return false;
}

class Analyzer {
 public:
  Analyzer(const Config& cfg, std::int64_t now) : cfg_(cfg), now_(now) {}

  std::vector<Diagnostic> run() {
    for (const auto& t : cfg_.tenants) {
      tenant(t);
    }
    mesh();
    for (const auto& e : cfg_.egress) {
      egress(e);
    }
    listeners();
    overlaps();
    limits();
    return std::move(out_);
  }

 private:
  void add(Severity s, const Pos& p, std::string msg, std::string accepted = {}) {
    out_.push_back(Diagnostic{s, p, std::move(msg), std::move(accepted)});
  }

  void expiry(X509* cert, const Pos& pos, const std::string& what, bool expired_is_error) {
    const std::int64_t not_after = certs::not_after_unix(cert);
    if (not_after == 0) {
      return;
    }
    if (not_after <= now_) {
      add(expired_is_error ? Severity::error : Severity::warning, pos,
          what + " expired on " + date(not_after));
    } else if (not_after - now_ < kExpiryWarningSeconds) {
      add(Severity::warning, pos,
          what + " expires within 30 days (" + date(not_after) + ")");
    }
  }

  // Loads cert + key, checks they match, expiry, key strength. Returns the leaf or nullptr.
  certs::Chain pair(const std::string& cert_path, const Pos& cert_pos,
                    const std::string& key_path, const Pos& key_pos, const std::string& what) {
    certs::Chain chain;
    certs::LoadError err;
    if (!certs::load_chain(cert_path, chain, err) || chain.certs.empty()) {
      add(Severity::error, cert_pos, what + " certificate: " + err.message,
          "a readable PEM file, leaf certificate first");
      chain.certs.clear();
    }
    certs::EvpPkeyPtr key;
    certs::LoadError kerr;
    if (!certs::load_key(key_path, key, kerr) || !key) {
      add(Severity::error, key_pos, what + " key: " + kerr.message, "a readable PEM private key");
      key.reset();
    }
    if (chain.certs.empty()) {
      return chain;
    }
    X509* leaf = chain.certs.front().get();
    expiry(leaf, cert_pos, what + " certificate " + cert_path, true);
    for (std::size_t i = 1; i < chain.certs.size(); ++i) {
      expiry(chain.certs[i].get(), cert_pos,
             what + " chain certificate #" + std::to_string(i + 1) + " in " + cert_path, true);
    }
    if (key) {
      if (!certs::key_matches(leaf, key.get())) {
        add(Severity::error, key_pos,
            what + " key " + key_path + " does not match certificate " + cert_path,
            "the private key of the leaf certificate");
      }
      const certs::KeyInfo info = certs::key_info(key.get());
      if (certs::key_is_weak(info)) {
        add(Severity::warning, key_pos, what + " key is weak (" + describe(info) + ")",
            "RSA >= 2048 bits, EC P-256 or P-384");
      }
    }
    return chain;
  }

  void bundle(const std::string& path, const Pos& pos, const std::string& what) {
    std::vector<certs::X509Ptr> certs;
    certs::LoadError err;
    if (!certs::load_bundle(path, certs, err) || certs.empty()) {
      add(Severity::error, pos, what + ": " + err.message, "a readable PEM bundle");
      return;
    }
    for (std::size_t i = 0; i < certs.size(); ++i) {
      expiry(certs[i].get(), pos,
             what + " certificate #" + std::to_string(i + 1) + " in " + path, false);
    }
  }

  void tenant(const TenantConfig& t) {
    const std::string what = "tenant \"" + t.name + "\"";
    // acme = true before the first start: the gateway writes a placeholder, then the issued pair.
    std::error_code ec;
    const bool acme_pending = t.acme && !std::filesystem::exists(t.cert, ec);
    if (!t.cert.empty() && !t.key.empty() && !acme_pending) {
      certs::Chain chain = pair(t.cert, t.pos_cert, t.key, t.pos_key, what);
      if (!chain.certs.empty()) {
        const auto sans = certs::dns_sans(chain.certs.front().get());
        for (std::size_t i = 0; i < t.hosts.size(); ++i) {
          bool covered = false;
          for (const auto& san : sans) {
            covered = covered || san_covers(san, t.hosts[i]);
          }
          if (!covered) {
            const Pos& p = i < t.pos_hosts.size() ? t.pos_hosts[i] : t.pos_cert;
            add(Severity::warning, p,
                "host \"" + t.hosts[i] + "\" is not covered by the DNS names of " + t.cert,
                "a certificate with a DNS SAN for every host of the tenant");
          }
        }
      }
    }
    if (!t.client_ca.empty()) {
      bundle(t.client_ca, t.pos_client_ca, what + " client_ca");
    }
    for (const auto& c : t.clusters) {
      if (c.plaintext) {
        add(Severity::warning, c.pos,
            "cluster \"" + c.name + "\" of tenant \"" + t.name +
                "\" is plaintext: traffic to it is neither encrypted nor authenticated",
            "identity = \"spiffe://...\" with mesh mTLS");
      }
    }
  }

  void mesh() {
    const MeshSection& m = cfg_.mesh;
    if (!m.ca.empty()) {
      bundle(m.ca, m.pos_ca, "[mesh] ca");
    }
    if (m.cert.empty() || m.key.empty()) {
      return;
    }
    certs::Chain chain = pair(m.cert, m.pos_cert, m.key, m.pos_key, "[mesh]");
    if (!chain.certs.empty() && !m.trust_domain.empty()) {
      const std::string prefix = "spiffe://" + m.trust_domain + "/";
      bool found = false;
      for (const auto& uri : certs::uri_sans(chain.certs.front().get())) {
        found = found || uri.starts_with(prefix);
      }
      if (!found) {
        add(Severity::warning, m.pos_cert,
            "[mesh] cert has no SPIFFE ID in trust domain \"" + m.trust_domain +
                "\"; mesh peers will not recognise the gateway",
            "a URI SAN " + prefix + "...");
      }
    }
  }

  void egress(const EgressConfig& e) {
    if (e.ca != "system" && !e.ca.empty()) {
      bundle(e.ca, e.pos, "egress " + e.host + " ca");
    }
    for (const auto& a : e.allow) {
      if (a == "*") {
        add(Severity::warning, e.pos,
            "egress to " + e.host + " is allowed for any mesh identity (allow = [\"*\"])",
            "the SPIFFE IDs of the workloads that need it");
        break;
      }
    }
    if (e.allow_private) {
      add(Severity::warning, e.pos,
          "egress to " + e.host + " may reach private and loopback addresses (allow_private)");
    }
  }

  void listeners() {
    if (!cfg_.admin.listen.empty()) {
      if (admin_unauthenticated_off_loopback(cfg_.admin)) {
        add(Severity::warning, cfg_.admin.pos,
            "admin listens on non-loopback address " + cfg_.admin.listen +
                " with neither token_file nor client_ca (it exposes the dashboard, /config "
                "and /metrics without authentication)",
            "\"127.0.0.1:9901\", or [admin] token_file / cert + key + client_ca");
      }
      if (!cfg_.admin.cert.empty()) {
        // `run` builds the same context at start and refuses what fails here.
        tls::ServerContextSpec spec;
        spec.cert_chain = cfg_.admin.cert;
        spec.key = cfg_.admin.key;
        spec.client_ca = cfg_.admin.client_ca;
        if (auto built = tls::make_server_context(spec); !built.ctx) {
          add(Severity::error, cfg_.admin.pos_cert, "[admin] TLS: " + built.error);
        }
      }
    }
    for (const auto& l : cfg_.listeners) {
      if (l.kind != ListenerConfig::Kind::egress ||
          l.client_auth != ListenerConfig::ClientAuth::none) {
        continue;
      }
      auto a = parse_socket_address(l.address);
      if (a && !is_loopback(*a)) {
        add(Severity::warning, l.pos,
            "egress listener \"" + l.name + "\" takes unauthenticated plain HTTP (client_auth = "
            "\"none\") on non-loopback address " + l.address,
            "client_auth = \"mesh\", or a loopback address");
      }
    }
  }

  void limits() {
    if (cfg_.limits.memory_budget == 0) {
      add(Severity::warning, cfg_.limits.pos_memory_budget,
          "memory_budget is off: under a surge the kernel's OOM killer, not the gateway, decides "
          "which connections die",
          "memory_budget = \"auto\" or a size below the memory the box has");
    }
    if (!cfg_.limits.pos_max_connections_per_listener.file.empty()) {
      const std::string w = descriptor_limit_warning(cfg_, soft_nofile_limit());
      if (!w.empty()) {
        add(Severity::warning, cfg_.limits.pos_max_connections_per_listener, w,
            "a cap the descriptor limit can hold, or a higher LimitNOFILE / ulimit -n");
      }
    }
  }

  void overlaps() {
    struct Where {
      const TenantConfig* tenant;
      Pos pos;
    };
    std::map<std::string, Where> wildcards;  // suffix -> owner
    for (const auto& t : cfg_.tenants) {
      for (std::size_t i = 0; i < t.hosts.size(); ++i) {
        if (t.hosts[i].starts_with("*.")) {
          wildcards.emplace(t.hosts[i].substr(2),
                            Where{&t, i < t.pos_hosts.size() ? t.pos_hosts[i] : Pos{t.file}});
        }
      }
    }
    for (const auto& t : cfg_.tenants) {
      for (std::size_t i = 0; i < t.hosts.size(); ++i) {
        const std::string& h = t.hosts[i];
        const auto dot = h.find('.');
        if (h.starts_with("*.") || dot == std::string::npos) {
          continue;
        }
        auto it = wildcards.find(h.substr(dot + 1));
        if (it == wildcards.end() || it->second.tenant == &t) {
          continue;
        }
        const Where& w = it->second;
        add(Severity::warning, i < t.pos_hosts.size() ? t.pos_hosts[i] : Pos{t.file},
            "host \"" + h + "\" of tenant \"" + t.name + "\" is also covered by \"*." +
                it->first + "\" of tenant \"" + w.tenant->name + "\" (" + w.pos.file + ":" +
                std::to_string(w.pos.line) + ":" + std::to_string(w.pos.col) +
                "); the exact name wins");
      }
    }
  }

  const Config& cfg_;
  std::int64_t now_;
  std::vector<Diagnostic> out_;
};

}  // namespace

bool admin_unauthenticated_off_loopback(const AdminSection& admin) {
  if (admin.listen.empty() || !admin.token.empty() || !admin.client_ca.empty()) {
    return false;
  }
  const auto a = parse_socket_address(admin.listen);
  return a && !is_loopback(*a);
}

std::vector<Diagnostic> analyze(const Config& cfg, std::int64_t now_unix) {
  std::vector<Diagnostic> out = Analyzer(cfg, now_unix).run();
  // The fleet's ticket key file: `run` refuses what this refuses (size, mode, content).
  if (!cfg.gateway.ticket_keys.empty()) {
    std::string err;
    if (!tls::TicketKeys::load_file(cfg.gateway.ticket_keys, err)) {
      Diagnostic d;
      d.pos = Pos{cfg.file, 0, 0};
      d.message = "ticket_keys: " + err;
      d.accepted = "a file of N x 80 bytes (or base64 lines), mode 0600";
      out.push_back(std::move(d));
    }
  }
  return out;
}

std::vector<Diagnostic> analyze(const Config& cfg) {
  return analyze(cfg, static_cast<std::int64_t>(std::time(nullptr)));
}

}  // namespace portcullis::gateway::config
