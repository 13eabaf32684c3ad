// Checks of `portcullis check` that ask the machine rather than the files' contents:
//   - ERROR   a [[listener]] address that cannot be bound (in use by another program, or not an
//             address of this host). The probe sets SO_REUSEPORT like the workers do, so a
//             running portcullis of the same user does not count as "in use" (check before a
//             reload stays green);
//   - WARNING a private key (mesh.key, a tenant's key) readable by others, or by a group other
//             than the checking process's own group;
//   - WARNING a file in tenants_dir that is not *.toml (it is ignored). Dot files (the kubelet's
//             ..data, editors' swap files) and directories are skipped.
// Thread: the CLI's main thread. Never throws.
#pragma once

#include <vector>

#include "gateway/config/config.h"

namespace portcullis::gateway::config {

std::vector<Diagnostic> host_checks(const Config& cfg);

}  // namespace portcullis::gateway::config
