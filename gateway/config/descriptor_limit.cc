#include "gateway/config/descriptor_limit.h"

#include <sys/resource.h>

namespace portcullis::gateway::config {

std::uint64_t descriptors_for_caps(const Config& cfg) noexcept {
  return std::uint64_t{cfg.limits.max_connections_per_listener} * cfg.listeners.size() +
         kDescriptorReserve;
}

std::string descriptor_limit_warning(const Config& cfg, std::uint64_t nofile) {
  const std::uint64_t need = descriptors_for_caps(cfg);
  if (cfg.listeners.empty() || nofile >= need) {
    return {};
  }
  const std::uint64_t fit = nofile > kDescriptorReserve ? nofile - kDescriptorReserve : 0;
  return "max_connections_per_listener = " +
         std::to_string(cfg.limits.max_connections_per_listener) + " on " +
         std::to_string(cfg.listeners.size()) + " listener(s) needs " + std::to_string(need) +
         " descriptors but the soft RLIMIT_NOFILE is " + std::to_string(nofile) + ": about " +
         std::to_string(fit) +
         " connections fit in all; past that, accepts wait (reason fd_exhausted)";
}

std::uint64_t soft_nofile_limit() noexcept {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) {
    return UINT64_MAX;
  }
  return rl.rlim_cur;
}

}  // namespace portcullis::gateway::config
