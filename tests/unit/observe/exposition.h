// Reading a rendered /metrics page in tests.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace portcullis::test {

// The value text of the sample "name{labels}" (exactly as rendered), or "" when absent.
inline std::string sample(std::string_view page, std::string_view series) {
  for (std::size_t at = 0; at < page.size();) {
    const std::size_t end = std::min(page.find('\n', at), page.size());
    const std::string_view line = page.substr(at, end - at);
    if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ') {
      return std::string(line.substr(series.size() + 1));
    }
    at = end + 1;
  }
  return "";
}

// How many samples of one name (a counter or gauge family) the page holds.
inline std::size_t count_samples(std::string_view page, std::string_view name) {
  std::size_t n = 0;
  for (std::size_t at = 0; at < page.size();) {
    const std::size_t end = std::min(page.find('\n', at), page.size());
    const std::string_view line = page.substr(at, end - at);
    if (line.starts_with(name) && line.size() > name.size() &&
        (line[name.size()] == '{' || line[name.size()] == ' ')) {
      ++n;
    }
    at = end + 1;
  }
  return n;
}

}  // namespace portcullis::test
