// Fuzz target: routing::parse_spiffe_id and in_namespace.
// Input: the ID, optionally followed by "\n<trust domain>\n<namespace>" for in_namespace().
// Checks: a parsed ID prints back to exactly the input, re-parses to the same parts, respects
// the length limit and the character sets; in_namespace() implies a parse in that domain.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "routing/spiffe_id.h"
#include "tests/fuzz/fuzz_check.h"

namespace routing = portcullis::routing;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = in.find('\n');
  const std::string_view id = in.substr(0, nl);
  std::string_view td;
  std::string_view ns;
  if (nl != std::string_view::npos) {
    const std::string_view rest = in.substr(nl + 1);
    const std::size_t nl2 = rest.find('\n');
    td = rest.substr(0, nl2);
    ns = nl2 == std::string_view::npos ? std::string_view() : rest.substr(nl2 + 1);
  }

  const auto parsed = routing::parse_spiffe_id(id);
  if (parsed) {
    FUZZ_CHECK(id.size() <= routing::kMaxSpiffeIdLength);
    FUZZ_CHECK(!parsed->trust_domain.empty());
    FUZZ_CHECK(parsed->path.size() >= 2 && parsed->path.front() == '/');
    FUZZ_CHECK(parsed->path.back() != '/');
    FUZZ_CHECK(parsed->path.find("//") == std::string::npos);
    for (char c : parsed->trust_domain) {
      FUZZ_CHECK(c != ':' && c != '@' && c != '/' && !(c >= 'A' && c <= 'Z'));
    }
    for (char c : parsed->path) {
      FUZZ_CHECK(c != '?' && c != '#' && c != '%');
    }
    const std::string printed = parsed->to_string();
    FUZZ_CHECK(printed == id);
    const auto again = routing::parse_spiffe_id(printed);
    FUZZ_CHECK(again && again->trust_domain == parsed->trust_domain &&
               again->path == parsed->path);
  }
  if (routing::in_namespace(id, td, ns)) {
    FUZZ_CHECK(parsed && parsed->trust_domain == td);
    FUZZ_CHECK(parsed->path.starts_with("/ns/"));
  }
  return 0;
}
