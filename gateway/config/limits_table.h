// [limits] as one table. Each row holds a key's TOML name, kind, default, bounds, the Limits
// member it fills and its one-line doc. The loader (gateway_schema.cc), Limits' defaults, the
// range in every out-of-bounds diagnostic, and README's [limits] table (checked by a unit test)
// all come from it.
//
// Adding a key: a Limits member in config.h, a row in limits_table.cc, the code that reads it,
// and the README line that tests/unit/config/limits_test.cc prints when it is missing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "gateway/config/config.h"

namespace portcullis::gateway::config {

enum class LimitKind : std::uint8_t {
  count,     // a TOML integer
  size,      // bytes: an integer or "64KiB"
  duration,  // milliseconds, written "10s"
  memory,    // memory_budget: a size, or "auto" / "off"
};

inline constexpr std::uint64_t kNoUpperBound = std::numeric_limits<std::uint64_t>::max();

static_assert(std::is_same_v<std::size_t, std::uint64_t>, "size fields share the uint64 member");
using LimitMember =
    std::variant<std::uint32_t Limits::*, std::uint64_t Limits::*, Millis Limits::*>;

struct LimitRow {
  std::string_view key;
  LimitKind kind;
  std::uint64_t def;  // count, bytes or milliseconds; memory: Limits::kMemoryBudgetAuto
  std::uint64_t lo;   // inclusive bounds, in the same unit
  std::uint64_t hi;   // kNoUpperBound: none
  LimitMember member;
  std::string_view doc;  // what happens at the limit (README's "reaction" column)
};

// Every [limits] key, in README order.
std::span<const LimitRow> limit_rows() noexcept;
// nullptr when `key` is not a [limits] key.
const LimitRow* find_limit(std::string_view key) noexcept;

std::uint64_t get_limit(const Limits& l, const LimitRow& row) noexcept;
void set_limit(Limits& l, const LimitRow& row, std::uint64_t v) noexcept;

// A value as README writes it: "100", "0 (off)", "64 KiB", "10s", `"auto"`.
std::string format_limit(const LimitRow& row, std::uint64_t v);
// The accepted range of a row, for diagnostics: "1 to 100000", "1024 to 67108864 bytes",
// "at least 1ms", ...
std::string limit_bounds(const LimitRow& row);
// README's [limits] table (header and one line per row), as the unit test expects it.
std::string limits_markdown();

}  // namespace portcullis::gateway::config
