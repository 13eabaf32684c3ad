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
  // The files read again go into `fresh` (only they are sorted, quarantined, judged); the
  // unchanged tenants are shared with `previous`, never copied (cow_vector.h).
  Config fresh = cfg;
  Config kept = cfg;
  const Config& unchanged = kept;
  kept.tenants.reserve(previous.tenants.size());
  for (std::size_t i = 0; i < previous.tenants.size(); ++i) {
    if (files.count(previous.tenants[i].file) == 0) {
      kept.tenants.push_shared(previous.tenants.shared(i));
    }
  }
  for (const auto& q : previous.quarantined) {
    if (files.count(q.file) == 0) {
      kept.quarantined.push_back(q);
    }
  }
  auto& diags = result.diagnostics;
  Validator v(diags);
  v.adopt(unchanged);  // the names and hosts the unchanged tenants hold
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
      v.read_tenant(*t, f, fresh);
    }
  }
  v.finish(fresh);  // sorts the tenants read

  std::vector<Diagnostic> errors;
  for (const auto& d : diags) {
    if (d.severity == Diagnostic::Severity::error) {
      if (!is_tenant_error(fresh, d) ||
          fresh.gateway.tenant_errors != GatewaySection::TenantErrors::quarantine) {
        return result;  // not for this path to judge: the caller loads everything
      }
      errors.push_back(d);
    }
  }
  quarantine_unparsed(fresh, read, errors);
  quarantine_tenants(fresh, errors);

  // Both sorted by name, names unique: merge by pointer.
  const Config& added = fresh;
  cfg.tenants.reserve(unchanged.tenants.size() + added.tenants.size());
  std::size_t a = 0;
  std::size_t b = 0;
  while (a < unchanged.tenants.size() || b < added.tenants.size()) {
    const bool take_added =
        a == unchanged.tenants.size() ||
        (b < added.tenants.size() && added.tenants[b].name < unchanged.tenants[a].name);
    cfg.tenants.push_shared(take_added ? added.tenants.shared(b++) : unchanged.tenants.shared(a++));
  }
  cfg.quarantined = std::move(kept.quarantined);
  for (auto& q : fresh.quarantined) {
    cfg.quarantined.push_back(std::move(q));
  }
  std::sort(cfg.quarantined.begin(), cfg.quarantined.end(),
            [](const QuarantinedTenant& x, const QuarantinedTenant& y) { return x.name < y.name; });
  // unknown_sni must still name a serving tenant (load() checks it against every file).
  const Config& merged = cfg;
  for (const auto& l : merged.listeners) {
    if (l.unknown_sni == "reject") {
      continue;
    }
    const auto it = std::lower_bound(
        merged.tenants.begin(), merged.tenants.end(), l.unknown_sni,
        [](const TenantConfig& t, const std::string& name) { return t.name < name; });
    if (it == merged.tenants.end() || it->name != l.unknown_sni) {
      return result;
    }
  }
  result.config = std::move(cfg);
  return result;
}

}  // namespace portcullis::gateway::config
