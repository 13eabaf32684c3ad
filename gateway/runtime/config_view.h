// ConfigView: what GET /config shows, the running configuration as JSON (nlohmann::json).
//
// The view is an allow-list: every field is named here, so a field added to config.h stays off
// the page until someone decides it may be shown. Key paths ([mesh].key, a tenant's [tls].key,
// [gateway].ticket_keys) and key material are never shown. [limits] is the running value of
// every row of config::limit_rows(): counts and bytes as numbers, durations in milliseconds
// under "<key>_ms", and memory_budget as bytes or "auto".
// Thread: any (pure function of its arguments).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/config/config.h"

namespace portcullis::gateway::runtime {

// One JSON object and a newline. Never throws on odd strings: invalid UTF-8 becomes U+FFFD.
std::string config_json(const config::Config& c, std::uint64_t generation,
                        std::string_view gateway_identity);

}  // namespace portcullis::gateway::runtime
