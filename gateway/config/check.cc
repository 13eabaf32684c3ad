#include "gateway/config/check.h"

#include "gateway/config/analyze.h"
#include "gateway/config/config.h"
#include "gateway/config/host_checks.h"
#include "gateway/config/profile.h"

#include <ctime>

namespace portcullis::gateway::config {

int run_check(const std::string& config_path, std::ostream& out, const std::string& profile,
              bool as_reload) {
  // load_isolating: when every error lies in tenant files, the other tenants are analyzed too,
  // and the summary says what `run` would do with them (serve, quarantining the broken ones).
  LoadResult result = load_isolating(config_path);
  std::vector<Diagnostic> diags = std::move(result.diagnostics);
  if (result.config) {
    auto more = analyze(*result.config);
    diags.insert(diags.end(), more.begin(), more.end());
    auto host = host_checks(*result.config);
    diags.insert(diags.end(), host.begin(), host.end());
    if (!profile.empty()) {
      auto findings = profile_findings(*result.config, profile, std::time(nullptr));
      diags.insert(diags.end(), findings.begin(), findings.end());
    }
  }
  std::size_t errors = 0;
  std::size_t warnings = 0;
  std::size_t tenant_errors = 0;
  for (const auto& d : diags) {
    out << d.format() << '\n';
    if (d.severity == Diagnostic::Severity::error) {
      ++errors;
      tenant_errors += result.config && is_tenant_error(*result.config, d) ? 1 : 0;
    } else {
      ++warnings;
    }
  }
  if (errors == 0 && result.config) {
    out << "ok: " << result.config->tenants.size() << " tenants, "
        << result.config->listeners.size() << " listeners, " << warnings << " warnings"
        << (profile.empty() ? "" : ", profile " + profile + " passes") << "\n";
    return 0;
  }
  if (errors == 0) {
    errors = 1;  // cannot happen: load() only withholds a config when it reported an error
  }
  out << errors << (errors == 1 ? " error" : " errors") << ", " << warnings
      << (warnings == 1 ? " warning" : " warnings") << '\n';
  if (result.config && tenant_errors == errors) {
    // Every error is confined to tenants: `run` would start (tenant_errors = "quarantine").
    std::size_t broken = result.config->quarantined.size();
    for (const auto& t : result.config->tenants) {
      for (const auto& d : diags) {
        if (d.severity == Diagnostic::Severity::error && d.pos.file == t.file) {
          ++broken;
          break;
        }
      }
    }
    out << "tenant errors only: run would quarantine " << broken
        << (broken == 1 ? " tenant" : " tenants") << " and serve the other "
        << result.config->tenants.size() + result.config->quarantined.size() - broken << '\n';
    if (as_reload &&
        result.config->gateway.tenant_errors == GatewaySection::TenantErrors::quarantine) {
      return 0;
    }
  }
  return 1;
}

}  // namespace portcullis::gateway::config
