// `portcullis certs acme status -c gateway.toml [--json]`: each ACME tenant's certificate
// (placeholder or issuer, notAfter) from the files, and the manager's schedule (state, next
// renewal or retry, consecutive failures, last error) from state_dir/status.json. Reads only;
// works whether or not the gateway runs.
// Thread: the main thread (writes to stdout/stderr).
#pragma once

#include <ostream>
#include <string>

namespace portcullis::gateway::acme {

// Returns 0, 1 (config errors) or 2 (usage).
int status_main(const std::string& config_path, bool json, std::ostream& out);

}  // namespace portcullis::gateway::acme
