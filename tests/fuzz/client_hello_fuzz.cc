// Fuzz target: tls::parse_client_hello on a client's first bytes (one or more TLS records).
// Checks the documented result: on ok, the SNI is lower case printable ASCII of at most 255
// bytes and legacy_version is 0x0301..0x0304; a shorter prefix of an accepted input is need_more
// or the same hello; the parse is deterministic.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_check.h"
#include "tls/client_hello.h"

using portcullis::tls::HelloInfo;
using portcullis::tls::HelloParse;
using portcullis::tls::parse_client_hello;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A heap copy of exactly `size` bytes so ASan catches any read past the end.
  const std::string copy(reinterpret_cast<const char*>(data), size);
  const std::string_view bytes(copy);
  const HelloInfo h = parse_client_hello(bytes);
  if (h.result == HelloParse::ok) {
    FUZZ_CHECK(h.sni.size() <= 255);
    FUZZ_CHECK(h.legacy_version >= 0x0301 && h.legacy_version <= 0x0304);
    for (char c : h.sni) {
      const auto u = static_cast<unsigned char>(c);
      FUZZ_CHECK(u > 0x20 && u < 0x7f);
      FUZZ_CHECK(!(u >= 'A' && u <= 'Z'));
    }
    // A shorter prefix of an accepted input is incomplete, or already the same whole hello
    // (when bytes follow the ClientHello's records); never an error.
    for (std::size_t n : {std::size_t{0}, size / 3, size / 2, size - 1}) {
      if (n < size) {
        const HelloInfo p = parse_client_hello(bytes.substr(0, n));
        FUZZ_CHECK(p.result == HelloParse::need_more ||
                   (p.result == HelloParse::ok && p.sni == h.sni));
      }
    }
  } else {
    FUZZ_CHECK(h.sni.empty());
  }
  if (h.result == HelloParse::not_tls) {
    FUZZ_CHECK(size >= 1);
  }
  const HelloInfo again = parse_client_hello(bytes);
  FUZZ_CHECK(again.result == h.result);
  FUZZ_CHECK(again.sni == h.sni);
  return 0;
}
