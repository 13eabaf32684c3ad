// Cache: name -> answer until a deadline on the loop's clock (uv_now, ms). Pure data.
//
// Bounded: when full, expired entries go first, then the entry closest to expiry, so a flood of
// distinct names cannot grow a worker's memory past max_entries answers.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace portcullis::gateway::dns {

struct CachedAnswer {
  int status = 0;  // 0 or a (cacheable) libuv error
  std::vector<std::string> addresses;
  std::uint64_t expires_ms = 0;
};

class Cache {
 public:
  explicit Cache(std::size_t max_entries) : max_entries_(max_entries) {}

  // The live answer for key, or nullptr (an expired entry is dropped).
  const CachedAnswer* find(const std::string& key, std::uint64_t now_ms) {
    auto it = map_.find(key);
    if (it == map_.end()) {
      return nullptr;
    }
    if (it->second.expires_ms <= now_ms) {
      map_.erase(it);
      return nullptr;
    }
    return &it->second;
  }

  void put(const std::string& key, CachedAnswer answer, std::uint64_t now_ms) {
    if (max_entries_ == 0) {
      return;
    }
    if (map_.size() >= max_entries_ && map_.find(key) == map_.end()) {
      make_room(now_ms);
    }
    map_[key] = std::move(answer);
  }

  std::size_t size() const noexcept { return map_.size(); }

 private:
  void make_room(std::uint64_t now_ms) {
    std::erase_if(map_, [now_ms](const auto& kv) { return kv.second.expires_ms <= now_ms; });
    if (map_.size() < max_entries_) {
      return;
    }
    auto soonest = map_.begin();
    for (auto it = map_.begin(); it != map_.end(); ++it) {
      if (it->second.expires_ms < soonest->second.expires_ms) {
        soonest = it;
      }
    }
    map_.erase(soonest);
  }

  std::size_t max_entries_;
  std::unordered_map<std::string, CachedAnswer> map_;
};

}  // namespace portcullis::gateway::dns
