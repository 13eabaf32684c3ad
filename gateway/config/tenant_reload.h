// Per-tenant reload: the configuration of a running generation with some tenant files read
// again, without parsing the other tenants' files (at 100k tenants, parsing every file is most
// of a reload).
//
// Thread: any (the reload thread); reads files, keeps no state. Never throws on bad input.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config/config.h"

namespace portcullis::gateway::config {

// `previous` with the tenants of `tenant_files` (absolute paths in tenants_dir) read again: a
// file that exists is parsed and validated against the other tenants (unique names and
// hosts), one that is gone removes its tenant. Errors confined to those files quarantine their
// tenants as load_isolating() does; `diagnostics` holds them. Without a config when the change
// cannot be judged here (tenant_errors = "refuse" with an error, or a listener's unknown_sni
// names a tenant that is gone or quarantined): the caller then loads everything.
//
// `host_owner` (optional): who holds a host pattern in `previous` (an index into
// previous.tenants, or previous.tenants.size() + i for previous.quarantined[i]), from an index
// the caller already has (the running generation's SNI table). With it, the unchanged tenants'
// names and hosts are looked up instead of indexed again (at 100k tenants, that index was most
// of a per-tenant reload); the errors read the same.
using HostOwner = std::function<std::optional<std::size_t>(std::string_view pattern)>;
LoadResult reload_tenant_files(const Config& previous, const std::vector<std::string>& tenant_files,
                               const HostOwner& host_owner = {});

}  // namespace portcullis::gateway::config
