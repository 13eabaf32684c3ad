#include "gateway/snapshot/connection_limits.h"

namespace portcullis::gateway::runtime {

bool ConnectionLimits::acquire(const std::string& key, std::uint32_t cap) {
  std::lock_guard lock{mu_};
  std::uint32_t& n = counts_[key];
  if (cap != 0 && n >= cap) {
    if (n == 0) {
      counts_.erase(key);
    }
    return false;
  }
  ++n;
  return true;
}

void ConnectionLimits::release(const std::string& key) {
  std::lock_guard lock{mu_};
  auto it = counts_.find(key);
  if (it != counts_.end() && --it->second == 0) {
    counts_.erase(it);
  }
}

}  // namespace portcullis::gateway::runtime
