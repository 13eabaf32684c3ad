// The [acme] section of gateway.toml and the tenant's [tls] acme = true (issue #16).
#include <cstdio>
#include <filesystem>

#include "certs/ca.h"
#include "gateway/config/reader.h"
#include "gateway/config/validate.h"

namespace portcullis::gateway::config {

using detail::Reader;

std::string acme_cert_path(const AcmeSection& a, const std::string& tenant) {
  return a.state_dir + "/certs/" + tenant + ".crt";
}
std::string acme_key_path(const AcmeSection& a, const std::string& tenant) {
  return a.state_dir + "/certs/" + tenant + ".key";
}

void read_acme_section(Reader& r, const toml::table& a, AcmeSection& out) {
  out.enabled = true;
  out.pos = r.pos(a);
  r.known_keys(a,
               {"directory", "contact", "state_dir", "ca", "eab_kid", "eab_hmac_key", "challenge",
                "max_orders", "retry_base", "retry_cap"},
               "[acme]");
  if (const auto* n = r.str(a, "directory", out.directory)) {
    if (!out.directory.starts_with("https://")) {
      r.error(r.pos(*n), "[acme] directory must be an https URL",
              "\"https://acme-v02.api.letsencrypt.org/directory\"");
    }
  } else if (r.get(a, "directory") == nullptr) {
    r.error(out.pos, "[acme] needs directory", "\"https://acme-v02.api.letsencrypt.org/directory\"");
  }
  std::vector<const toml::node*> nodes;
  if (r.strings(a, "contact", out.contact, &nodes)) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (!out.contact[i].starts_with("mailto:")) {
        r.error(r.pos(*nodes[i]), "contact \"" + out.contact[i] + "\" is not a mailto: URL",
                "\"mailto:ops@example.com\"");
      }
    }
  }
  std::string s;
  if (const auto* n = r.str(a, "state_dir", s)) {
    if (s.empty()) {
      r.error(r.pos(*n), "[acme] state_dir must not be empty", "a directory path");
    } else {
      out.state_dir = r.resolve(s);
    }
  } else if (r.get(a, "state_dir") == nullptr) {
    r.error(out.pos, "[acme] needs state_dir", "state_dir = \"/var/lib/portcullis/acme\"");
  }
  if (r.str(a, "ca", s) && !s.empty()) {
    out.ca = r.resolve(s);
  }
  const auto* kid = r.str(a, "eab_kid", out.eab_kid);
  const auto* hmac = r.str(a, "eab_hmac_key", out.eab_hmac_key);
  if ((kid == nullptr) != (hmac == nullptr)) {
    r.error(out.pos, "[acme] external account binding needs both eab_kid and eab_hmac_key");
  }
  r.choice(a, "challenge", {"http-01", "tls-alpn-01"}, out.challenge);
  r.integer(a, "max_orders", out.max_orders, 1, 64);
  r.duration(a, "retry_base", out.retry_base, true);
  r.duration(a, "retry_cap", out.retry_cap, true);
}

// [tls] acme = true: the cert and key live in the state directory; wildcard hosts would need
// DNS-01, which Portcullis does not do, so they are refused.
void read_tenant_acme(Reader& r, const toml::table& tls, const AcmeSection& acme,
                      TenantConfig& t) {
  const toml::node* n = r.boolean(tls, "acme", t.acme);
  if (n == nullptr || !t.acme) {
    return;
  }
  t.pos_acme = r.pos(*n);
  if (!acme.enabled) {
    r.error(t.pos_acme, "[tls] acme = true needs an [acme] section in gateway.toml",
            "[acme] directory = \"https://...\" state_dir = \"...\"");
    return;
  }
  if (r.get(tls, "cert") != nullptr || r.get(tls, "key") != nullptr) {
    r.error(t.pos_acme, "[tls] acme = true takes the place of cert and key",
            "either acme = true or cert and key");
  }
  for (std::size_t i = 0; i < t.hosts.size(); ++i) {
    if (t.hosts[i].starts_with("*.")) {
      r.error(i < t.pos_hosts.size() ? t.pos_hosts[i] : t.pos_acme,
              "host \"" + t.hosts[i] + "\" is a wildcard: ACME would need DNS-01, which "
              "Portcullis does not support",
              "exact host names with acme = true, or cert and key from another issuer");
    }
  }
  t.cert = acme_cert_path(acme, t.name);
  t.key = acme_key_path(acme, t.name);
  t.pos_cert = t.pos_acme;
  t.pos_key = t.pos_acme;
}

void ensure_acme_placeholders(const Config& cfg) {
  for (const auto& t : cfg.tenants) {
    std::error_code ec;
    if (!t.acme || (std::filesystem::exists(t.cert, ec) && std::filesystem::exists(t.key, ec))) {
      continue;
    }
    std::filesystem::create_directories(std::filesystem::path(t.cert).parent_path(), ec);
    std::filesystem::permissions(cfg.acme.state_dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
    certs::CertSpec spec;
    spec.common_name = t.hosts.empty() ? t.name : t.hosts.front();
    spec.organization = kAcmePlaceholderOrg;
    spec.dns = t.hosts;
    spec.client_and_server = false;
    std::string err;
    certs::IssuedCert c = certs::issue_in_memory(spec, nullptr, nullptr, err);
    if (!c || !certs::write_key_pem(t.key, c.key.get(), err) ||
        !certs::write_certs_pem(t.cert, {c.cert.get()}, err)) {
      std::fprintf(stderr, "portcullis: acme: placeholder for tenant %s: %s\n", t.name.c_str(),
                   err.c_str());
    }
  }
}

}  // namespace portcullis::gateway::config
