// grpc-timeout values (gateway/http/grpc_timeout.h): what parses, what is refused, and the
// value the gateway forwards with the time left.
#include <chrono>
#include <initializer_list>
#include <optional>

#include <catch2/catch.hpp>

#include "gateway/http/grpc_timeout.h"

namespace http = portcullis::gateway::http;
using namespace std::chrono_literals;

TEST_CASE("grpc-timeout: every unit parses") {
  CHECK(http::parse_grpc_timeout("2H") == std::optional<std::chrono::nanoseconds>(2h));
  CHECK(http::parse_grpc_timeout("3M") == std::optional<std::chrono::nanoseconds>(3min));
  CHECK(http::parse_grpc_timeout("10S") == std::optional<std::chrono::nanoseconds>(10s));
  CHECK(http::parse_grpc_timeout("300m") == std::optional<std::chrono::nanoseconds>(300ms));
  CHECK(http::parse_grpc_timeout("250u") == std::optional<std::chrono::nanoseconds>(250us));
  CHECK(http::parse_grpc_timeout("7n") == std::optional<std::chrono::nanoseconds>(7ns));
  CHECK(http::parse_grpc_timeout("0m") == std::optional<std::chrono::nanoseconds>(0ns));
  CHECK(http::parse_grpc_timeout("00000001S") == std::optional<std::chrono::nanoseconds>(1s));
  CHECK(http::parse_grpc_timeout("99999999m") ==
        std::optional<std::chrono::nanoseconds>(99'999'999ms));
}

TEST_CASE("grpc-timeout: malformed values are refused") {
  for (const char* v : {"", "S", "m", "100", "100x", "100 m", " 100m", "-1m", "+1m", "1.5S",
                        "123456789m", "1h", "1s", "1mm", "0x10m"}) {
    INFO("value '" << v << "'");
    CHECK_FALSE(http::parse_grpc_timeout(v).has_value());
  }
}

TEST_CASE("grpc-timeout: hours saturate instead of overflowing") {
  const auto d = http::parse_grpc_timeout("99999999H");
  REQUIRE(d.has_value());
  CHECK(*d == http::kMaxGrpcTimeout);
  CHECK(*d > 24h * 365);
}

TEST_CASE("grpc-timeout: the forwarded value is the finest unit that fits, truncated") {
  CHECK(http::format_grpc_timeout(250ms) == "250000u");  // 250000000n has 9 digits
  CHECK(http::format_grpc_timeout(99'999'999ns) == "99999999n");
  CHECK(http::format_grpc_timeout(100'000'000ns) == "100000u");
  CHECK(http::format_grpc_timeout(1234567891ns) == "1234567u");
  CHECK(http::format_grpc_timeout(30s) == "30000000u");
  CHECK(http::format_grpc_timeout(48h) == "172800S");
  CHECK(http::format_grpc_timeout(0ns) == "1n");
  CHECK(http::format_grpc_timeout(-5ms) == "1n");
  // What it writes, it reads back (never more time than given).
  for (const std::chrono::nanoseconds d :
       std::initializer_list<std::chrono::nanoseconds>{1ns, 999us, 299'999'999ns, 5s, 3h,
                                                      http::kMaxGrpcTimeout}) {
    const auto back = http::parse_grpc_timeout(http::format_grpc_timeout(d));
    REQUIRE(back.has_value());
    CHECK(*back <= d);
    CHECK(*back > d - d / 1000 - 1ns);  // at most 0.1% lost to truncation
  }
}
