// The WebSocket relay's frame cursor and its shutdown close (upgrade_relay.h): the close 1001
// goes to the upstream only at a frame boundary, so a frame in flight is never cut in two.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "gateway/http/exchange.h"
#include "gateway/http/upgrade_relay.h"
#include "tests/unit/http1/fakes.h"

using namespace portcullis::gateway;
using namespace portcullis::gateway::http;
using namespace portcullis::gateway::http::testing;

namespace {

// A masked client frame (the mask is zero: the payload reads as it is).
std::string client_frame(std::uint8_t opcode, std::size_t n) {
  std::string f;
  f += static_cast<char>(0x80 | opcode);
  if (n < 126) {
    f += static_cast<char>(0x80 | n);
  } else if (n < 65536) {
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n & 0xff);
  } else {
    f += static_cast<char>(0x80 | 127);
    for (int s = 56; s >= 0; s -= 8) {
      f += static_cast<char>((static_cast<std::uint64_t>(n) >> s) & 0xff);
    }
  }
  f += std::string(4, '\0');
  f += std::string(n, 'x');
  return f;
}

// Unmasks the close frame at the end of `body`: its code.
int close_code_at_end(const std::string& body) {
  REQUIRE(body.size() >= 18);
  const std::string f = body.substr(body.size() - 18);
  CHECK(static_cast<std::uint8_t>(f[0]) == 0x88);
  CHECK(static_cast<std::uint8_t>(f[1]) == (0x80 | 12));
  const auto b = [&](std::size_t i) {
    return static_cast<std::uint8_t>(f[6 + i]) ^ static_cast<std::uint8_t>(f[2 + i % 4]);
  };
  return (b(0) << 8) | b(1);
}

}  // namespace

TEST_CASE("upgrade: FrameCursor finds frame ends in any split") {
  const std::string stream =
      client_frame(0x1, 5) + client_frame(0x2, 300) + client_frame(0x2, 70000) +
      client_frame(0x8, 0);
  for (std::size_t step : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, stream.size()}) {
    upgrade::FrameCursor c;
    std::size_t ends = 0;
    for (std::size_t at = 0; at < stream.size();) {
      std::string_view piece = std::string_view(stream).substr(at, step);
      const std::size_t n = c.advance(piece, /*stop_at_end=*/true);
      REQUIRE(n > 0);
      at += n;
      if (c.at_boundary()) {
        ++ends;
      }
    }
    INFO("step " << step);
    CHECK(ends == 4);
    CHECK(c.at_boundary());
  }
}

TEST_CASE("upgrade: going away closes at the next frame boundary") {
  Sink sink;
  Exchange ex(sink);
  upgrade::ClientRelay relay;
  const std::string first = client_frame(0x2, 1000);
  const std::string later = client_frame(0x1, 10);

  SECTION("between frames: the close goes at once, later bytes are dropped") {
    REQUIRE(relay.relay(ex, first));
    REQUIRE(relay.going_away(ex));
    REQUIRE(relay.relay(ex, later));
    const std::string body{ex.request_body().peek()};
    CHECK(body.size() == first.size() + 18);
    CHECK(body.substr(0, first.size()) == first);
    CHECK(close_code_at_end(body) == 1001);
  }
  SECTION("inside a frame: the rest of it passes first") {
    REQUIRE(relay.relay(ex, std::string_view(first).substr(0, 100)));
    REQUIRE(relay.going_away(ex));
    CHECK(ex.request_body().size() == 100);  // not yet: the frame is still open
    REQUIRE(relay.relay(ex, first.substr(100) + later));
    const std::string body{ex.request_body().peek()};
    CHECK(body.size() == first.size() + 18);
    CHECK(body.substr(0, first.size()) == first);
    CHECK(close_code_at_end(body) == 1001);
  }
  CHECK(ex.info().reason == Reason::draining);
}
