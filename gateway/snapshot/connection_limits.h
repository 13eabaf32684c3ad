// ConnectionLimits: the process-wide connection caps of [limits] (per listener, per client IP,
// per tenant). A connection takes a slot when it is known to belong to a key and gives it back
// when it closes.
//
// Thread:   any worker. Taken once per connection, never per request; the map is under a mutex
//           because keys (IPs, tenants) come and go.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace portcullis::gateway::runtime {

class ConnectionLimits {
 public:
  // False when `key` already holds `cap` connections (cap 0 = unlimited: always true).
  bool acquire(const std::string& key, std::uint32_t cap);
  void release(const std::string& key);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::uint32_t> counts_;
};

}  // namespace portcullis::gateway::runtime
