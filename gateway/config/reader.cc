#include "gateway/config/reader.h"

#include <cctype>

#include "routing/host_table.h"

namespace portcullis::gateway::config::detail {

namespace {

std::string lower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

}  // namespace

std::string quoted_list(std::initializer_list<std::string_view> items) {
  std::string s;
  for (auto item : items) {
    if (!s.empty()) {
      s += ", ";
    }
    s += '"';
    s += item;
    s += '"';
  }
  return s;
}

std::string_view type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

// Lower-cases and validates a host pattern; reports at the element's position.
bool read_host(Reader& r, const toml::node& n, std::string& host, std::string_view what) {
  host = lower(host);
  std::string why;
  if (!routing::HostTable::valid_pattern(host, &why) || !valid_host_pattern(host)) {
    r.error(r.pos(n),
            std::string(what) + " \"" + host + "\" is not a valid host name" +
                (why.empty() ? std::string() : ": " + why),
            std::string(kHostAccepted));
    return false;
  }
  return true;
}

void read_min_tls(Reader& r, const toml::table& t, std::string& out) {
  r.choice(t, "min_tls", {"1.2", "1.3"}, out);
}

}  // namespace portcullis::gateway::config::detail
