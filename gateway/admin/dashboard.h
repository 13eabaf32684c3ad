// The admin dashboard at "/": one HTML page with its CSS and script compiled in (no CDN, works
// offline). The script reads /config, /metrics and /audit/denials on the same admin listener
// and redraws every 2 s: tenants with certificate expiry and state, routes -> clusters ->
// endpoints with health and the upstream identity, request and 5xx rates per tenant, and the
// latest audit denials. Read-only. With [admin] token_file, a form asks for the token once and
// the script sends it as `Authorization: Bearer` (kept in the tab's sessionStorage).
#pragma once

#include <string_view>

namespace portcullis::gateway::admin {

std::string_view dashboard_html() noexcept;

}  // namespace portcullis::gateway::admin
