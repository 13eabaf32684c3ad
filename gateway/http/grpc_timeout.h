// grpc-timeout (gRPC over HTTP/2, PROTOCOL-HTTP2.md): "1-8 ASCII digits" then one unit,
// H (hours), M (minutes), S (seconds), m (milliseconds), u (microseconds), n (nanoseconds).
// Pure functions, header-only, so every engine and test that builds exchange.cc has them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::gateway::http {

// 99999999H would overflow a nanosecond count; anything past ten years is "no deadline" in
// practice, so longer values saturate here.
inline constexpr std::chrono::nanoseconds kMaxGrpcTimeout =
    std::chrono::hours(24 * 365 * 10);

// The duration a grpc-timeout value names, or nullopt when it is malformed (no digits, more
// than 8, another unit, spaces, a sign). "0m" is valid: already expired.
inline std::optional<std::chrono::nanoseconds> parse_grpc_timeout(std::string_view v) noexcept {
  if (v.size() < 2 || v.size() > 9) {
    return std::nullopt;
  }
  std::int64_t n = 0;
  for (const char c : v.substr(0, v.size() - 1)) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    n = n * 10 + (c - '0');  // at most 99999999: no overflow
  }
  std::int64_t unit_ns = 0;
  switch (v.back()) {
    case 'H': unit_ns = 3'600'000'000'000; break;
    case 'M': unit_ns = 60'000'000'000; break;
    case 'S': unit_ns = 1'000'000'000; break;
    case 'm': unit_ns = 1'000'000; break;
    case 'u': unit_ns = 1'000; break;
    case 'n': unit_ns = 1; break;
    default: return std::nullopt;
  }
  if (n > kMaxGrpcTimeout.count() / unit_ns) {
    return kMaxGrpcTimeout;
  }
  return std::chrono::nanoseconds(n * unit_ns);
}

// `d` as a grpc-timeout value in the finest unit whose count fits in 8 digits (truncated, so
// the next hop never gets more time than is left). At least "1n": an expired request is not
// forwarded at all.
inline std::string format_grpc_timeout(std::chrono::nanoseconds d) {
  static constexpr struct {
    std::int64_t ns;
    char unit;
  } kUnits[] = {{1, 'n'},
                {1'000, 'u'},
                {1'000'000, 'm'},
                {1'000'000'000, 'S'},
                {60'000'000'000, 'M'},
                {3'600'000'000'000, 'H'}};
  const std::int64_t ns = d.count() < 1 ? 1 : d.count();
  for (const auto& u : kUnits) {
    const std::int64_t n = ns / u.ns;
    if (n <= 99'999'999) {
      return std::to_string(n < 1 ? 1 : n) + u.unit;
    }
  }
  return "99999999H";
}

}  // namespace portcullis::gateway::http
