// TokenBucket: requests per second with a burst, pure arithmetic on a caller-given clock.
//
// The bucket holds up to `burst` tokens and refills at `rate` tokens per second; a request takes
// one. A new bucket is full. Times are nanoseconds of any monotonic clock; a clock that steps
// back is treated as no time passing.
//
// Thread: one owner (a worker); no locks, no atomics.
#pragma once

#include <cstdint>

namespace portcullis::gateway::runtime {

class TokenBucket {
 public:
  // rate > 0 requests per second; burst = 0 means burst = rate (one second's worth), and a
  // burst below 1 is raised to 1 so a request can ever pass.
  TokenBucket(double rate, double burst, std::int64_t now_ns) noexcept;

  // Takes one token when there is one.
  bool take(std::int64_t now_ns) noexcept;
  // Whole seconds until a token is there, at least 1 (for Retry-After).
  std::uint32_t retry_after_seconds(std::int64_t now_ns) const noexcept;
  // True once the bucket is full again: nobody has been refused for a burst's worth of time.
  bool full(std::int64_t now_ns) const noexcept;
  // New settings (a reload), keeping the tokens it has (capped at the new burst).
  void reconfigure(double rate, double burst) noexcept;

  double rate() const noexcept { return rate_; }
  double burst() const noexcept { return burst_; }

 private:
  double tokens_at(std::int64_t now_ns) const noexcept;

  double rate_;
  double burst_;
  double tokens_;
  std::int64_t last_ns_;
};

}  // namespace portcullis::gateway::runtime
