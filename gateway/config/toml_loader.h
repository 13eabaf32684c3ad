// TOML loading: the only place that turns toml++ parse exceptions into Diagnostics.
//
// parse_toml_file()/parse_toml_string() give back a toml::table (with source positions on every
// node) or append one error Diagnostic and return nothing. load() (declared in config.h) is
// implemented here: it parses gateway.toml, then every tenants_dir/*.toml sorted by file name,
// and hands the tables to Validator (validate.h).
//
// Thread: any; no shared state. Never throws toml++ exceptions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "gateway/config/config.h"

namespace portcullis::gateway::config {

// Reads and parses one file. On failure appends an error at the position toml++ reports (or
// line 0 for an unreadable file) and returns std::nullopt. `id`, if given, gets the file's stat
// identity as opened (left as it was when the file cannot be opened).
std::optional<toml::table> parse_toml_file(const std::string& path,
                                           std::vector<Diagnostic>& out,
                                           FileIdentity* id = nullptr);

// Parses TOML text; `path` is only used for diagnostics and node source paths.
std::optional<toml::table> parse_toml_string(std::string_view text, const std::string& path,
                                             std::vector<Diagnostic>& out);

}  // namespace portcullis::gateway::config
