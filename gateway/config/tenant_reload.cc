#include "gateway/config/tenant_reload.h"

#include <algorithm>
#include <filesystem>
#include <string_view>
#include <unordered_set>

#include "gateway/config/toml_loader.h"
#include "gateway/config/validate.h"

namespace portcullis::gateway::config {

LoadResult reload_tenant_files(const Config& previous,
                               const std::vector<std::string>& tenant_files) {
  LoadResult result;
  const std::unordered_set<std::string_view> files(tenant_files.begin(), tenant_files.end());
  // Every section gateway.toml owns, as it was (a new section of Config belongs here too: a
  // tenant schema may read it, as [tls] acme = true reads [acme]); then the tenants.
  Config cfg;
  cfg.file = previous.file;
  cfg.acme = previous.acme;
  cfg.gateway = previous.gateway;
  cfg.limits = previous.limits;
  cfg.admin = previous.admin;
  cfg.log = previous.log;
  cfg.mesh = previous.mesh;
  cfg.listeners = previous.listeners;
  cfg.egress = previous.egress;
  cfg.tenants.reserve(previous.tenants.size() + tenant_files.size());
  for (const auto& t : previous.tenants) {
    if (files.count(t.file) == 0) {
      cfg.tenants.push_back(t);
    }
  }
  for (const auto& q : previous.quarantined) {
    if (files.count(q.file) == 0) {
      cfg.quarantined.push_back(q);
    }
  }
  auto& diags = result.diagnostics;
  Validator v(diags);
  v.adopt(cfg);  // the names and hosts the unchanged tenants hold
  std::vector<std::string> read;  // the files that exist, in name order (load()'s order)
  for (const auto& f : tenant_files) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(f, ec)) {
      read.push_back(f);
    }
  }
  std::sort(read.begin(), read.end());
  for (const auto& f : read) {
    if (auto t = parse_toml_file(f, diags)) {
      v.read_tenant(*t, f, cfg);
    }
  }
  v.finish(cfg);  // sorts the tenants again

  std::vector<Diagnostic> errors;
  for (const auto& d : diags) {
    if (d.severity == Diagnostic::Severity::error) {
      if (!is_tenant_error(cfg, d) ||
          cfg.gateway.tenant_errors != GatewaySection::TenantErrors::quarantine) {
        return result;  // not for this path to judge: the caller loads everything
      }
      errors.push_back(d);
    }
  }
  quarantine_unparsed(cfg, read, errors);
  quarantine_tenants(cfg, errors);
  // unknown_sni must still name a serving tenant (load() checks it against every file).
  for (const auto& l : cfg.listeners) {
    if (l.unknown_sni == "reject") {
      continue;
    }
    const bool found = std::any_of(cfg.tenants.begin(), cfg.tenants.end(),
                                   [&](const TenantConfig& t) { return t.name == l.unknown_sni; });
    if (!found) {
      return result;
    }
  }
  result.config = std::move(cfg);
  return result;
}

}  // namespace portcullis::gateway::config
