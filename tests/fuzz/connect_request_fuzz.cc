// Fuzz target: gateway::egress::parse_connect on a client's first bytes.
// Checks the documented result: on ok, consumed ends with CRLFCRLF within the buffer and the
// head limit, the port is non-zero and the host lower case; errors carry 400, 405 or 431; the
// bytes after the head do not change the result; the parse is deterministic.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/egress/connect_request.h"
#include "tests/fuzz/fuzz_check.h"

using portcullis::gateway::egress::ConnectRequest;
using portcullis::gateway::egress::parse_connect;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string copy(reinterpret_cast<const char*>(data), size);
  const std::string_view bytes(copy);
  // A small limit as well as the default one, so 431 paths are reached.
  for (std::size_t limit : {std::size_t{64}, std::size_t{64 * 1024}}) {
    const ConnectRequest r = parse_connect(bytes, limit);
    if (r.state == ConnectRequest::State::ok) {
      FUZZ_CHECK(r.consumed >= 4 && r.consumed <= size && r.consumed <= limit);
      FUZZ_CHECK(bytes.substr(r.consumed - 4, 4) == "\r\n\r\n");
      FUZZ_CHECK(bytes.substr(0, 8) == "CONNECT ");
      FUZZ_CHECK(r.port != 0);
      FUZZ_CHECK(!r.host.empty());
      for (char c : r.host) {
        FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
      }
      const ConnectRequest head_only = parse_connect(bytes.substr(0, r.consumed), limit);
      FUZZ_CHECK(head_only.state == ConnectRequest::State::ok);
      FUZZ_CHECK(head_only.host == r.host && head_only.port == r.port);
      FUZZ_CHECK(parse_connect(bytes.substr(0, r.consumed - 1), limit).state ==
                 ConnectRequest::State::need_more);
    } else if (r.state == ConnectRequest::State::error) {
      FUZZ_CHECK(r.status == 400 || r.status == 405 || r.status == 431);
      FUZZ_CHECK(!r.error.empty());
    }
    const ConnectRequest again = parse_connect(bytes, limit);
    FUZZ_CHECK(again.state == r.state && again.status == r.status && again.host == r.host);
  }
  return 0;
}
