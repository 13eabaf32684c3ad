// Fuzz target: tls::parse_server_name on the body of a server_name extension.
// Checks the documented result: on ok, a non-empty name of at most 255 printable ASCII bytes
// without upper case, filling the extension exactly (one host_name entry: 2 + 3 header bytes);
// otherwise the output is untouched; the parse is deterministic.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_check.h"
#include "tls/sni.h"

using portcullis::tls::SniParse;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string name = "\x01untouched";
  const SniParse r = portcullis::tls::parse_server_name(data, size, name);
  if (r != SniParse::ok) {
    FUZZ_CHECK(name == "\x01untouched");
  }
  if (r == SniParse::ok) {
    FUZZ_CHECK(!name.empty());
    FUZZ_CHECK(name.size() <= 255);
    FUZZ_CHECK(name.size() + 5 == size);
    FUZZ_CHECK(data[2] == 0);
    for (char c : name) {
      const auto u = static_cast<unsigned char>(c);
      FUZZ_CHECK(u > 0x20 && u < 0x7f);
      FUZZ_CHECK(!(u >= 'A' && u <= 'Z'));
    }
  }
  std::string again;
  FUZZ_CHECK(portcullis::tls::parse_server_name(data, size, again) == r);
  if (r == SniParse::ok) {
    FUZZ_CHECK(again == name);
  }
  return 0;
}
