// Fuzz target: routing::HostTable. The input is lines: "+pattern" adds a pattern (after
// valid_pattern() accepts it) for the next tenant id, any other line is a name to look up.
// Checks: an added pattern is found by find_pattern() with its id, an exact pattern by find(),
// a wildcard by find() for one label under it unless an exact name shadows it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "routing/host_table.h"
#include "tests/fuzz/fuzz_check.h"

using portcullis::routing::HostTable;
using portcullis::routing::TenantId;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  HostTable table;
  TenantId next = 0;
  std::size_t lines = 0;
  while (!in.empty() && lines < 4096) {
    ++lines;
    const std::size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    if (!line.empty() && line.front() == '+') {
      const std::string_view pattern = line.substr(1);
      std::string why;
      if (!HostTable::valid_pattern(pattern, &why)) {
        FUZZ_CHECK(!why.empty());
        continue;
      }
      const std::size_t before = table.size();
      const TenantId id = next++;
      const bool added = table.add(pattern, id);
      FUZZ_CHECK(table.size() == before + (added ? 1 : 0));
      const auto owner = table.find_pattern(pattern);
      FUZZ_CHECK(owner.has_value());
      if (added) {
        FUZZ_CHECK(*owner == id);
      }
      if (pattern.front() != '*') {
        const auto hit = table.find(pattern);
        FUZZ_CHECK(hit.has_value() && *hit == *owner);
      } else {
        // "*.suffix": one label under it matches unless that exact name was added too.
        const std::string probe = "fuzz-probe" + std::string(pattern.substr(1));
        const auto exact = table.find_pattern(probe);
        const auto hit = table.find(probe);
        FUZZ_CHECK(hit.has_value());
        FUZZ_CHECK(*hit == (exact ? *exact : *owner));
      }
    } else {
      const auto hit = table.find(line);
      if (hit) {
        FUZZ_CHECK(*hit < next);
      }
      (void)table.find_pattern(line);
      (void)HostTable::normalize(line);
    }
  }
  return 0;
}
