// Shared driver for the downstream session fuzz targets (http1_session, http2_session).
//
// What: a SessionOwner that answers every exchange at once with local_reply(200), and a loop
// that feeds the fuzz input in chunks the way DownstreamConnection does (respecting want_read(),
// pulling output after every feed), then drains and tears the session down.
// Thread: one fuzz iteration. Ownership: the caller owns the session; the owner holds no
// pointers to exchanges after exchange_done().
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/http/exchange.h"
#include "gateway/http/session.h"
#include "gateway/observe/reason.h"

namespace portcullis::gateway::http::fuzz {

class ReplyingOwner : public SessionOwner {
 public:
  void start_exchange(Exchange& ex) noexcept override {
    ++started;
    ex.local_reply(200, Reason::none, "ok");
  }
  void exchange_done(Exchange&) noexcept override { ++done; }
  void output_ready() noexcept override { ++output_ready_calls; }
  void request_rejected(int, Reason) noexcept override { ++rejected; }

  std::size_t started = 0;
  std::size_t done = 0;
  std::size_t rejected = 0;
  std::size_t output_ready_calls = 0;
};

// Pulls output until the session has nothing more (bounded).
inline void drain_output(Session& s, std::string& out) {
  for (int i = 0; i < 64; ++i) {
    out.clear();
    s.pull_output(out, 16 * 1024);
    if (out.empty()) {
      break;
    }
  }
}

// Feeds `in` to a session in chunks whose size depends on the input length (so one corpus
// exercises several split points), pulling output like a connection would.
inline void drive(Session& s, std::string_view in) {
  static constexpr std::size_t kChunks[] = {1, 3, 7, 64, 512, 4096, 1 << 20};
  const std::size_t chunk = kChunks[in.size() % std::size(kChunks)];
  std::string out;
  std::size_t pos = 0;
  bool open = true;
  while (open && pos < in.size()) {
    if (s.should_close()) {
      break;
    }
    if (!s.want_read()) {
      drain_output(s, out);
      if (!s.want_read()) {
        break;  // a real connection would wait for the upstream; nothing more will come here
      }
    }
    const std::size_t n = std::min(chunk, in.size() - pos);
    open = s.feed(in.substr(pos, n));
    pos += n;
    drain_output(s, out);
  }
  (void)s.idle();
  s.start_drain();
  drain_output(s, out);
  (void)s.should_close();
  // Odd lengths also exercise an abrupt abort with whatever is still in flight.
  if (in.size() % 2 == 1) {
    s.abort();
  }
}

}  // namespace portcullis::gateway::http::fuzz
