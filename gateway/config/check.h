// `portcullis check -c gateway.toml`: load + analyze, print every diagnostic, then a summary.
//
// Output: one Diagnostic::format() line per diagnostic, then
//   "ok: N tenants, N listeners, N warnings"   (exit status 0), or
//   "N errors, N warnings"                     (exit status 1).
// Thread: main thread of the CLI. Never throws on bad configuration.
#pragma once

#include <ostream>
#include <string>

namespace portcullis::gateway::config {

// `profile` ("", "hipaa", "soc2"): adds that compliance profile's findings (profile.h) as errors.
// `as_reload`: the question `portcullis reload` asks, "would the running gateway apply this?":
// errors confined to tenants do not fail it under tenant_errors = "quarantine" (exit 0, the
// report still printed), since the gateway applies every other change and quarantines them.
int run_check(const std::string& config_path, std::ostream& out, const std::string& profile = {},
              bool as_reload = false);

}  // namespace portcullis::gateway::config
