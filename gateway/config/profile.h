// `portcullis check --profile hipaa|soc2`: the rules a compliance profile adds to `check`.
//
// Every finding is an error Diagnostic at the file:line of the offending setting whose message
// starts "[PROFILE RULE-ID, CONTROL]". The rules and the controls they serve are README's
// "Compliance profiles" table; profile_rules() is that table.
//
// Thread: any; reads certificate and key files, keeps no state. Never throws on bad files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config/config.h"

namespace portcullis::gateway::config {

struct ProfileRule {
  std::string_view id;
  std::string_view hipaa;  // the HIPAA control, "" when the hipaa profile does not apply it
  std::string_view soc2;   // the SOC 2 control, "" when the soc2 profile does not apply it
  std::string_view what;   // what the rule refuses
};

const std::vector<ProfileRule>& profile_rules();

bool known_profile(std::string_view profile);

// The findings of `profile` ("hipaa" or "soc2") on a loaded configuration.
std::vector<Diagnostic> profile_findings(const Config& cfg, std::string_view profile,
                                         std::int64_t now_unix);

}  // namespace portcullis::gateway::config
