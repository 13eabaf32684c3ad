// Analyzers for `portcullis check`: the checks that need file contents or judgement.
//
// analyze() reads every certificate and key the Config names (through certs/pem.h) and reports
// ERRORS for files that cannot be read or parsed, keys that do not match their certificate and
// expired certificates; and WARNINGS for plaintext clusters, certificates expiring within 30
// days, weak keys (RSA < 2048 bits, curves other than P-256/P-384), tenant certificates that do
// not cover the tenant's hosts, host names of one tenant covered by another tenant's wildcard,
// an admin listener on a non-loopback address without a token or client certificates, egress entries open to any identity or to
// private addresses, and egress listeners without client authentication on non-loopback
// addresses.
//
// Thread: any; reads files, keeps no state. Never throws on bad files.
#pragma once

#include <cstdint>
#include <vector>

#include "gateway/config/config.h"

namespace portcullis::gateway::config {

inline constexpr std::int64_t kExpiryWarningSeconds = 30 * 24 * 3600;  // 30 days

// `now_unix` is the time certificates are judged against (tests pass a fixed one).
std::vector<Diagnostic> analyze(const Config& cfg, std::int64_t now_unix);
std::vector<Diagnostic> analyze(const Config& cfg);

// The admin listener answers beyond loopback with neither token_file nor client_ca: `check`
// warns, and the profiles refuse it (profile.cc, rule admin-auth).
bool admin_unauthenticated_off_loopback(const AdminSection& admin);

}  // namespace portcullis::gateway::config
