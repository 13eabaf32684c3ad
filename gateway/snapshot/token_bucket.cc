#include "gateway/snapshot/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace portcullis::gateway::runtime {

namespace {

double effective_burst(double rate, double burst) noexcept {
  return std::max(1.0, burst > 0 ? burst : rate);
}

}  // namespace

TokenBucket::TokenBucket(double rate, double burst, std::int64_t now_ns) noexcept
    : rate_(rate), burst_(effective_burst(rate, burst)), tokens_(burst_), last_ns_(now_ns) {}

double TokenBucket::tokens_at(std::int64_t now_ns) const noexcept {
  const std::int64_t dt = std::max<std::int64_t>(0, now_ns - last_ns_);
  return std::min(burst_, tokens_ + static_cast<double>(dt) * 1e-9 * rate_);
}

bool TokenBucket::take(std::int64_t now_ns) noexcept {
  tokens_ = tokens_at(now_ns);
  last_ns_ = std::max(last_ns_, now_ns);
  if (tokens_ < 1.0) {
    return false;
  }
  tokens_ -= 1.0;
  return true;
}

std::uint32_t TokenBucket::retry_after_seconds(std::int64_t now_ns) const noexcept {
  const double missing = 1.0 - tokens_at(now_ns);
  if (missing <= 0 || rate_ <= 0) {
    return 1;
  }
  const double s = std::ceil(missing / rate_);
  return s < 1 ? 1 : s > 86400 ? 86400 : static_cast<std::uint32_t>(s);
}

bool TokenBucket::full(std::int64_t now_ns) const noexcept { return tokens_at(now_ns) >= burst_; }

void TokenBucket::reconfigure(double rate, double burst) noexcept {
  rate_ = rate;
  burst_ = effective_burst(rate, burst);
  tokens_ = std::min(tokens_, burst_);
}

}  // namespace portcullis::gateway::runtime
