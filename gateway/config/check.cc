#include "gateway/config/check.h"

#include "gateway/config/analyze.h"
#include "gateway/config/config.h"
#include "gateway/config/host_checks.h"
#include "gateway/config/profile.h"

#include <ctime>

namespace portcullis::gateway::config {

int run_check(const std::string& config_path, std::ostream& out, const std::string& profile) {
  LoadResult result = load(config_path);
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
  for (const auto& d : diags) {
    out << d.format() << '\n';
    if (d.severity == Diagnostic::Severity::error) {
      ++errors;
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
  return 1;
}

}  // namespace portcullis::gateway::config
