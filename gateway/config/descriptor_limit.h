// Descriptor limit vs connection caps: every downstream connection holds a descriptor, so
// [limits].max_connections_per_listener on every listener at once needs that many plus a reserve
// for the process itself (loops, logs, admin, upstream connections). When RLIMIT_NOFILE is lower,
// the cap cannot be met: accepts fail with EMFILE first (the listener then backs off; see
// gateway/listen/listener.h). `run` logs a warning at start; `check` warns when the cap was set
// explicitly (the default of 100,000 is a ceiling, not a promise).
//
// Thread: any; no state.
#pragma once

#include <cstdint>
#include <string>

#include "gateway/config/config.h"

namespace portcullis::gateway::config {

inline constexpr std::uint64_t kDescriptorReserve = 64;

// Descriptors the caps could hold at once: listeners x max_connections_per_listener + reserve.
std::uint64_t descriptors_for_caps(const Config& cfg) noexcept;

// The warning text when `nofile` is below descriptors_for_caps(cfg); empty when it suffices.
std::string descriptor_limit_warning(const Config& cfg, std::uint64_t nofile);

// This process's soft RLIMIT_NOFILE (unlimited or unreadable = UINT64_MAX).
std::uint64_t soft_nofile_limit() noexcept;

}  // namespace portcullis::gateway::config
