#include "gateway/config/validate.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <initializer_list>
#include <limits>

#include "routing/host_table.h"
#include "routing/spiffe_id.h"

namespace portcullis::gateway::config {

namespace {

constexpr std::string_view kDurationAccepted = R"("500ms", "15s", "2m", "1h")";
constexpr std::string_view kSizeAccepted = R"(an integer number of bytes, "64KiB", "1MiB", "1GiB")";
constexpr std::string_view kAddressAccepted = R"("a.b.c.d:port" or "[v6]:port", port 1-65535)";
constexpr std::string_view kHostAccepted =
    R"(a lower-case DNS name like "shop.example" or a one-label wildcard like "*.example.com")";

std::optional<std::uint64_t> parse_uint(std::string_view s) {
  if (s.empty() || s.size() > 19) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
  auto v = parse_uint(s);
  if (!v || *v > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(*v);
}

bool valid_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

bool valid_ipv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

bool valid_dns_label(std::string_view l, bool allow_upper, bool allow_underscore) {
  if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') {
    return false;
  }
  for (char c : l) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    (allow_upper && c >= 'A' && c <= 'Z') || (allow_underscore && c == '_');
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool valid_dns_name(std::string_view s, bool allow_upper, bool allow_underscore) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = s.find('.', start);
    const std::string_view label =
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!valid_dns_label(label, allow_upper, allow_underscore)) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

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

// Reads values out of one file's tables, reporting every problem with its position.
class Reader {
 public:
  Reader(const std::string& file, std::vector<Diagnostic>& out) : file_(file), out_(out) {}

  const std::string& file() const noexcept { return file_; }

  Pos pos(const toml::node& n) const {
    const auto& b = n.source().begin;
    return Pos{file_, static_cast<int>(b.line), static_cast<int>(b.column)};
  }
  Pos pos(const toml::key& k) const {
    const auto& b = k.source().begin;
    return Pos{file_, static_cast<int>(b.line), static_cast<int>(b.column)};
  }
  Pos file_pos() const { return Pos{file_, 0, 0}; }

  void error(Pos p, std::string message, std::string accepted = {}) {
    out_.push_back(Diagnostic{Diagnostic::Severity::error, std::move(p), std::move(message),
                              std::move(accepted)});
  }
  void warning(Pos p, std::string message, std::string accepted = {}) {
    out_.push_back(Diagnostic{Diagnostic::Severity::warning, std::move(p), std::move(message),
                              std::move(accepted)});
  }

  // Every key of `t` must be one of `known`.
  void known_keys(const toml::table& t, std::initializer_list<std::string_view> known,
                  std::string_view where) {
    for (auto&& [k, v] : t) {
      if (std::find(known.begin(), known.end(), k.str()) == known.end()) {
        std::string list;
        for (auto name : known) {
          list += list.empty() ? "" : ", ";
          list += name;
        }
        error(pos(k), "unknown key '" + std::string(k.str()) + "' in " + std::string(where),
              list);
      }
    }
  }

  const toml::node* get(const toml::table& t, std::string_view key) const { return t.get(key); }

  bool type_error(const toml::node& n, std::string_view key, std::string_view want) {
    error(pos(n), "'" + std::string(key) + "' must be " + std::string(want) + ", not " +
                      std::string(type_name(n)));
    return false;
  }

  // Returns the node when present and a string; reports a type error otherwise.
  const toml::node* str(const toml::table& t, std::string_view key, std::string& out) {
    const toml::node* n = get(t, key);
    if (n == nullptr) {
      return nullptr;
    }
    if (const auto* s = n->as_string()) {
      out = s->get();
      return n;
    }
    type_error(*n, key, "a string");
    return nullptr;
  }

  const toml::node* boolean(const toml::table& t, std::string_view key, bool& out) {
    const toml::node* n = get(t, key);
    if (n == nullptr) {
      return nullptr;
    }
    if (const auto* b = n->as_boolean()) {
      out = b->get();
      return n;
    }
    type_error(*n, key, "true or false");
    return nullptr;
  }

  // Integer in [lo, hi].
  template <class T>
  const toml::node* integer(const toml::table& t, std::string_view key, T& out, std::int64_t lo,
                            std::int64_t hi) {
    const toml::node* n = get(t, key);
    if (n == nullptr) {
      return nullptr;
    }
    const auto* i = n->as_integer();
    if (i == nullptr) {
      type_error(*n, key, "an integer");
      return nullptr;
    }
    const std::int64_t v = i->get();
    if (v < lo || v > hi) {
      error(pos(*n), std::string(key) + " = " + std::to_string(v) + " is out of range",
            std::to_string(lo) + " to " + std::to_string(hi));
      return nullptr;
    }
    out = static_cast<T>(v);
    return n;
  }

  // Array of strings; each element's node is returned through `nodes` when given.
  const toml::node* strings(const toml::table& t, std::string_view key,
                            std::vector<std::string>& out,
                            std::vector<const toml::node*>* nodes = nullptr) {
    const toml::node* n = get(t, key);
    if (n == nullptr) {
      return nullptr;
    }
    const auto* a = n->as_array();
    if (a == nullptr) {
      type_error(*n, key, "an array of strings");
      return nullptr;
    }
    out.clear();
    bool ok = true;
    for (const auto& e : *a) {
      if (const auto* s = e.as_string()) {
        out.push_back(s->get());
        if (nodes != nullptr) {
          nodes->push_back(&e);
        }
      } else {
        error(pos(e), "elements of '" + std::string(key) + "' must be strings, not " +
                          std::string(type_name(e)));
        ok = false;
      }
    }
    return ok ? n : nullptr;
  }

  // A string that must be one of `choices`.
  const toml::node* choice(const toml::table& t, std::string_view key,
                           std::initializer_list<std::string_view> choices, std::string& out) {
    std::string v;
    const toml::node* n = str(t, key, v);
    if (n == nullptr) {
      return nullptr;
    }
    if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
      error(pos(*n), std::string(key) + " = \"" + v + "\" is not valid", quoted_list(choices));
      return nullptr;
    }
    out = v;
    return n;
  }

  const toml::node* duration(const toml::table& t, std::string_view key, Millis& out,
                             bool allow_zero) {
    const toml::node* n = get(t, key);
    if (n == nullptr) {
      return nullptr;
    }
    const auto* s = n->as_string();
    if (s == nullptr) {
      error(pos(*n), "'" + std::string(key) + "' must be a duration string with a unit, not " +
                         std::string(type_name(*n)),
            std::string(kDurationAccepted));
      return nullptr;
    }
    auto d = parse_duration(s->get());
    if (!d) {
      error(pos(*n), std::string(key) + " = \"" + s->get() + "\" is not a duration",
            std::string(kDurationAccepted));
      return nullptr;
    }
    if (!allow_zero && d->count() == 0) {
      error(pos(*n), std::string(key) + " must be greater than zero",
            std::string(kDurationAccepted));
      return nullptr;
    }
    out = *d;
    return n;
  }

  // A size: integer bytes or "64KiB"; must lie in [lo, hi].
  template <class T>
  const toml::node* size(const toml::table& t, std::string_view key, T& out, std::uint64_t lo,
                         std::uint64_t hi) {
    const toml::node* n = get(t, key);
    if (n == nullptr) {
      return nullptr;
    }
    std::optional<std::uint64_t> v;
    if (const auto* i = n->as_integer()) {
      if (i->get() >= 0) {
        v = static_cast<std::uint64_t>(i->get());
      }
    } else if (const auto* s = n->as_string()) {
      v = parse_size(s->get());
    } else {
      type_error(*n, key, "a size");
      return nullptr;
    }
    if (!v) {
      error(pos(*n), "'" + std::string(key) + "' is not a size", std::string(kSizeAccepted));
      return nullptr;
    }
    if (*v < lo || *v > hi) {
      error(pos(*n), std::string(key) + " = " + std::to_string(*v) + " bytes is out of range",
            std::to_string(lo) + " to " + std::to_string(hi) + " bytes");
      return nullptr;
    }
    out = static_cast<T>(*v);
    return n;
  }

  // Resolves a path against the directory of this file.
  std::string resolve(const std::string& p) const {
    if (p.empty()) {
      return p;
    }
    std::filesystem::path path(p);
    if (path.is_absolute()) {
      return path.lexically_normal().string();
    }
    return (std::filesystem::path(file_).parent_path() / path).lexically_normal().string();
  }

  // A required table (or absent); reports when the key holds something else.
  const toml::table* table(const toml::table& t, std::string_view key) {
    const toml::node* n = get(t, key);
    if (n == nullptr) {
      return nullptr;
    }
    if (const auto* tb = n->as_table()) {
      return tb;
    }
    error(pos(*n), "'" + std::string(key) + "' must be a table ([" + std::string(key) + "])");
    return nullptr;
  }

  // [[key]] entries; reports when the key holds something else.
  std::vector<const toml::table*> table_array(const toml::table& t, std::string_view key) {
    std::vector<const toml::table*> v;
    const toml::node* n = get(t, key);
    if (n == nullptr) {
      return v;
    }
    const auto* a = n->as_array();
    if (a == nullptr) {
      error(pos(*n), "'" + std::string(key) + "' must be written as [[" + std::string(key) +
                         "]] entries");
      return v;
    }
    for (const auto& e : *a) {
      if (const auto* tb = e.as_table()) {
        v.push_back(tb);
      } else {
        error(pos(e), "'" + std::string(key) + "' must be written as [[" + std::string(key) +
                          "]] entries");
      }
    }
    return v;
  }

 private:
  const std::string& file_;
  std::vector<Diagnostic>& out_;
};

std::string lower(std::string s) {
  for (char& c : s) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
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

// memory_budget = "auto" | "off" | a size of at least 16 MiB ("2GiB").
void read_memory_budget(Reader& r, const toml::table& t, Limits& l) {
  const toml::node* n = r.get(t, "memory_budget");
  if (n == nullptr) {
    return;
  }
  l.pos_memory_budget = r.pos(*n);
  if (const auto* s = n->as_string(); s != nullptr && !parse_size(s->get())) {
    if (s->get() == "auto" || s->get() == "off") {
      l.memory_budget = s->get() == "auto" ? Limits::kMemoryBudgetAuto : 0;
    } else {
      r.error(r.pos(*n), "memory_budget = \"" + s->get() + "\" is not valid",
              R"("auto", "off", or a size such as "2GiB")");
    }
    return;
  }
  r.size(t, "memory_budget", l.memory_budget, 16ULL << 20, 1ULL << 50);
}

void read_limits(Reader& r, const toml::table& t, Limits& l) {
  r.known_keys(t,
               {"h2_max_concurrent_streams", "h2_stream_window", "h2_connection_window",
                "max_request_headers", "max_header_count", "header_timeout",
                "tls_handshake_timeout", "idle_timeout", "max_requests_per_connection",
                "buffer_per_direction", "max_connections_per_listener",
                "max_connections_per_ip", "max_connections_per_tenant",
                "h2_header_table_size", "h2_max_continuations", "h2_max_settings",
                "h2_max_outbound_control_frames", "h2_max_client_resets",
                "h2_max_server_resets", "memory_budget"},
               "[limits]");
  constexpr std::int64_t kMaxWindow = 2147483647;
  r.integer(t, "h2_max_concurrent_streams", l.h2_max_concurrent_streams, 1, kMaxWindow);
  r.size(t, "h2_stream_window", l.h2_stream_window, 1, kMaxWindow);
  r.size(t, "h2_connection_window", l.h2_connection_window, 65535, kMaxWindow);
  r.size(t, "max_request_headers", l.max_request_headers, 1024, 64ULL * 1024 * 1024);
  r.integer(t, "max_header_count", l.max_header_count, 1, 100000);
  r.duration(t, "header_timeout", l.header_timeout, false);
  r.duration(t, "tls_handshake_timeout", l.tls_handshake_timeout, false);
  r.duration(t, "idle_timeout", l.idle_timeout, false);
  r.integer(t, "max_requests_per_connection", l.max_requests_per_connection, 1, 4294967295LL);
  r.size(t, "buffer_per_direction", l.buffer_per_direction, 1024, 1ULL << 30);
  r.integer(t, "max_connections_per_listener", l.max_connections_per_listener, 1, 4294967295LL);
  if (const toml::node* n = r.get(t, "max_connections_per_listener"); n != nullptr) {
    l.pos_max_connections_per_listener = r.pos(*n);
  }
  r.integer(t, "max_connections_per_ip", l.max_connections_per_ip, 0, 4294967295LL);
  r.integer(t, "max_connections_per_tenant", l.max_connections_per_tenant, 0, 4294967295LL);
  r.size(t, "h2_header_table_size", l.h2_header_table_size, 0, 1ULL << 20);
  r.integer(t, "h2_max_continuations", l.h2_max_continuations, 0, 1000);
  r.integer(t, "h2_max_settings", l.h2_max_settings, 8, 1000);
  r.integer(t, "h2_max_outbound_control_frames", l.h2_max_outbound_control_frames, 10, 100000);
  r.integer(t, "h2_max_client_resets", l.h2_max_client_resets, 1, 4294967295LL);
  r.integer(t, "h2_max_server_resets", l.h2_max_server_resets, 1, 4294967295LL);
  read_memory_budget(r, t, l);
}

bool decode_base64(std::string_view s, std::string& out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (s.size() % 4 != 0) {
    return false;
  }
  out.clear();
  for (std::size_t i = 0; i < s.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = s[i + j];
      if (c == '=') {
        if (i + 4 != s.size() || j < 2) {
          return false;
        }
        v[j] = 0;
        ++pad;
      } else {
        if (pad > 0) {
          return false;
        }
        v[j] = val(c);
        if (v[j] < 0) {
          return false;
        }
      }
    }
    const std::uint32_t n = (static_cast<std::uint32_t>(v[0]) << 18) |
                            (static_cast<std::uint32_t>(v[1]) << 12) |
                            (static_cast<std::uint32_t>(v[2]) << 6) |
                            static_cast<std::uint32_t>(v[3]);
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) {
      out += static_cast<char>((n >> 8) & 0xff);
    }
    if (pad < 1) {
      out += static_cast<char>(n & 0xff);
    }
  }
  return true;
}

}  // namespace

// ---- value parsers ----

std::optional<Millis> parse_duration(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    ++i;
  }
  auto n = parse_uint(s.substr(0, i));
  if (!n || *n > 1'000'000'000'000ULL) {
    return std::nullopt;
  }
  const std::string_view unit = s.substr(i);
  std::uint64_t ms = 0;
  if (unit == "ms") {
    ms = *n;
  } else if (unit == "s") {
    ms = *n * 1000;
  } else if (unit == "m") {
    ms = *n * 60'000;
  } else if (unit == "h") {
    ms = *n * 3'600'000;
  } else {
    return std::nullopt;
  }
  return Millis{static_cast<Millis::rep>(ms)};
}

std::optional<std::uint64_t> parse_size(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    ++i;
  }
  auto n = parse_uint(s.substr(0, i));
  if (!n || *n > (1ULL << 40)) {
    return std::nullopt;
  }
  const std::string_view unit = s.substr(i);
  if (unit.empty() || unit == "B") {
    return *n;
  }
  if (unit == "KiB") {
    return *n << 10;
  }
  if (unit == "MiB") {
    return *n << 20;
  }
  if (unit == "GiB") {
    return *n << 30;
  }
  return std::nullopt;
}

std::optional<SocketAddress> parse_socket_address(std::string_view s) {
  SocketAddress a;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    const std::size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return std::nullopt;
    }
    a.host = std::string(s.substr(1, close - 1));
    a.v6 = true;
    if (!valid_ipv6(a.host)) {
      return std::nullopt;
    }
    port = s.substr(close + 2);
  } else {
    const std::size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    a.host = std::string(s.substr(0, colon));
    if (!valid_ipv4(a.host)) {
      return std::nullopt;
    }
    port = s.substr(colon + 1);
  }
  auto p = parse_port(port);
  if (!p) {
    return std::nullopt;
  }
  a.port = *p;
  return a;
}

bool is_loopback(const SocketAddress& a) {
  if (!a.v6) {
    in_addr v4{};
    if (inet_pton(AF_INET, a.host.c_str(), &v4) != 1) {
      return false;
    }
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, a.host.c_str(), &v6) != 1) {
    return false;
  }
  if (IN6_IS_ADDR_LOOPBACK(&v6)) {
    return true;
  }
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

bool valid_cidr(std::string_view s) {
  const std::size_t slash = s.find('/');
  const std::string host(s.substr(0, slash));
  const bool v4 = valid_ipv4(host);
  const bool v6 = !v4 && valid_ipv6(host);
  if (!v4 && !v6) {
    return false;
  }
  if (slash == std::string_view::npos) {
    return true;
  }
  auto bits = parse_uint(s.substr(slash + 1));
  return bits && *bits <= (v4 ? 32U : 128U);
}

bool valid_endpoint(std::string_view s) {
  if (!s.empty() && s.front() == '[') {
    auto a = parse_socket_address(s);
    return a && a->port != 0;
  }
  const std::size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return false;
  }
  auto p = parse_port(s.substr(colon + 1));
  if (!p || *p == 0) {
    return false;
  }
  const std::string host(s.substr(0, colon));
  return valid_ipv4(host) || valid_dns_name(host, true, true);
}

bool valid_host_pattern(std::string_view s) {
  // routing's rules (the table that will hold the pattern), in the canonical spelling only.
  return routing::HostTable::valid_pattern(s, nullptr) && routing::HostTable::normalize(s) == s;
}

bool valid_trust_domain(std::string_view s) {
  return !s.empty() && routing::parse_spiffe_id("spiffe://" + std::string(s) + "/x").has_value();
}

bool valid_spiffe_id(std::string_view s) { return routing::parse_spiffe_id(s).has_value(); }

bool valid_pin(std::string_view s) {
  constexpr std::string_view kPrefix = "sha256/";
  if (!s.starts_with(kPrefix)) {
    return false;
  }
  std::string raw;
  return decode_base64(s.substr(kPrefix.size()), raw) && raw.size() == 32;
}

bool valid_tenant_name(std::string_view s) {
  if (s.empty() || s.size() > 63) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// ---- gateway.toml ----

void Validator::read_gateway(const toml::table& root, const std::string& file, Config& cfg) {
  Reader r(file, out_);
  cfg.file = file;
  r.known_keys(root, {"gateway", "limits", "admin", "log", "mesh", "listener", "egress"},
               "gateway.toml");

  cfg.gateway.tenants_dir = r.resolve("tenants.d");
  if (const auto* g = r.table(root, "gateway")) {
    r.known_keys(*g, {"workers", "tenants_dir", "drain_timeout", "ticket_keys", "resolver"},
                 "[gateway]");
    r.integer(*g, "workers", cfg.gateway.workers, 0, 1024);
    std::string dir;
    if (const auto* n = r.str(*g, "tenants_dir", dir)) {
      tenants_dir_explicit_ = true;
      tenants_dir_pos_ = r.pos(*n);
      if (dir.empty()) {
        r.error(r.pos(*n), "tenants_dir must not be empty", "a directory path");
      } else {
        cfg.gateway.tenants_dir = r.resolve(dir);
      }
    }
    r.duration(*g, "drain_timeout", cfg.gateway.drain_timeout, true);
    std::string s;
    if (r.str(*g, "ticket_keys", s)) {
      cfg.gateway.ticket_keys = r.resolve(s);
    }
    if (const auto* n = r.str(*g, "resolver", s)) {
      // One "ip:port" or several, comma-separated (tried in order by gateway/dns).
      for (std::size_t at = 0; !s.empty() && at <= s.size();) {
        const std::size_t end = std::min(s.find(',', at), s.size());
        std::string_view one = std::string_view(s).substr(at, end - at);
        one.remove_prefix(std::min(one.find_first_not_of(' '), one.size()));
        one.remove_suffix(one.size() - std::min(one.find_last_not_of(' ') + 1, one.size()));
        auto a = parse_socket_address(one);
        if (!a || a->port == 0) {
          r.error(r.pos(*n), "resolver = \"" + s + "\" is not a numeric address (or a list)",
                  std::string(kAddressAccepted));
          break;
        }
        at = end + 1;
      }
      cfg.gateway.resolver = s;
    }
  }

  if (const auto* l = r.table(root, "limits")) {
    read_limits(r, *l, cfg.limits);
  }

  if (const auto* a = r.table(root, "admin")) {
    r.known_keys(*a, {"listen"}, "[admin]");
    std::string listen;
    if (const auto* n = r.str(*a, "listen", listen)) {
      cfg.admin.pos = r.pos(*n);
      if (!listen.empty() && !parse_socket_address(listen)) {
        r.error(r.pos(*n), "admin listen = \"" + listen + "\" is not a valid address",
                std::string(kAddressAccepted) + R"(, or "" to disable)");
      }
      cfg.admin.listen = listen;
    }
  }
  if (cfg.admin.pos.file.empty()) {
    cfg.admin.pos = r.file_pos();
  }

  if (const auto* lg = r.table(root, "log")) {
    r.known_keys(*lg, {"access", "audit"}, "[log]");
    std::string s;
    if (r.str(*lg, "access", s)) {
      cfg.log.access = (s == "-" || s.empty()) ? s : r.resolve(s);
    }
    if (r.str(*lg, "audit", s)) {
      cfg.log.audit = (s == "-" || s.empty()) ? s : r.resolve(s);
    }
  }

  if (const auto* m = r.table(root, "mesh")) {
    mesh_present_ = true;
    mesh_pos_ = r.pos(*m);
    r.known_keys(*m, {"trust_domain", "ca", "cert", "key"}, "[mesh]");
    std::string s;
    if (const auto* n = r.str(*m, "trust_domain", s)) {
      if (!valid_trust_domain(s)) {
        r.error(r.pos(*n), "trust_domain = \"" + s + "\" is not a valid SPIFFE trust domain",
                "lower-case letters, digits, '.', '-', '_' (e.g. \"mesh.example\")");
      } else {
        cfg.mesh.trust_domain = s;
      }
    } else if (r.get(*m, "trust_domain") == nullptr) {
      r.error(mesh_pos_, "[mesh] needs trust_domain", "trust_domain = \"mesh.example\"");
    }
    struct {
      const char* key;
      std::string* out;
      Pos* pos;
    } paths[] = {{"ca", &cfg.mesh.ca, &cfg.mesh.pos_ca},
                 {"cert", &cfg.mesh.cert, &cfg.mesh.pos_cert},
                 {"key", &cfg.mesh.key, &cfg.mesh.pos_key}};
    for (auto& p : paths) {
      if (const auto* n = r.str(*m, p.key, s)) {
        *p.pos = r.pos(*n);
        if (s.empty()) {
          r.error(r.pos(*n), std::string("[mesh] ") + p.key + " must not be empty",
                  "a PEM file path");
        } else {
          *p.out = r.resolve(s);
        }
      } else if (r.get(*m, p.key) == nullptr) {
        r.error(mesh_pos_, std::string("[mesh] needs ") + p.key, "a PEM file path");
      }
    }
  }

  std::map<std::string, Pos> names;
  std::map<std::string, Pos> addresses;
  for (const toml::table* lt : r.table_array(root, "listener")) {
    ListenerConfig l;
    l.pos = r.pos(*lt);
    r.known_keys(*lt,
                 {"name", "kind", "address", "proxy_protocol", "trusted_proxies", "unknown_sni",
                  "client_auth"},
                 "[[listener]]");
    if (const auto* n = r.str(*lt, "name", l.name)) {
      if (l.name.empty()) {
        r.error(r.pos(*n), "listener name must not be empty");
      } else if (auto [it, fresh] = names.emplace(l.name, r.pos(*n)); !fresh) {
        r.error(r.pos(*n), "duplicate listener name \"" + l.name + "\" (first at line " +
                               std::to_string(it->second.line) + ")",
                "a name used by no other listener");
      }
    } else if (r.get(*lt, "name") == nullptr) {
      r.error(l.pos, "[[listener]] needs a name", "name = \"public\"");
    }
    std::string kind = "ingress";
    if (r.get(*lt, "kind") == nullptr) {
      r.error(l.pos, "[[listener]] needs a kind", R"("ingress", "egress")");
    } else if (r.choice(*lt, "kind", {"ingress", "egress"}, kind)) {
      l.kind = kind == "egress" ? ListenerConfig::Kind::egress : ListenerConfig::Kind::ingress;
    }
    if (const auto* n = r.str(*lt, "address", l.address)) {
      if (!parse_socket_address(l.address)) {
        r.error(r.pos(*n), "address = \"" + l.address + "\" is not a valid listen address",
                std::string(kAddressAccepted));
      } else if (auto a = parse_socket_address(l.address); a->port != 0) {
        if (auto [it, fresh] = addresses.emplace(l.address, r.pos(*n)); !fresh) {
          r.error(r.pos(*n), "address \"" + l.address + "\" is already used by another listener"
                             " (line " + std::to_string(it->second.line) + ")");
        }
      }
    } else if (r.get(*lt, "address") == nullptr) {
      r.error(l.pos, "[[listener]] needs an address", std::string(kAddressAccepted));
    }
    std::string pp;
    if (r.choice(*lt, "proxy_protocol", {"off", "v1", "v2", "any"}, pp)) {
      l.proxy_protocol = pp == "v1"   ? ListenerConfig::ProxyProtocol::v1
                         : pp == "v2" ? ListenerConfig::ProxyProtocol::v2
                         : pp == "any" ? ListenerConfig::ProxyProtocol::any
                                       : ListenerConfig::ProxyProtocol::off;
    }
    std::vector<const toml::node*> nodes;
    if (r.strings(*lt, "trusted_proxies", l.trusted_proxies, &nodes)) {
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (!valid_cidr(l.trusted_proxies[i])) {
          r.error(r.pos(*nodes[i]), "\"" + l.trusted_proxies[i] + "\" is not a CIDR",
                  R"("10.0.0.0/8", "2001:db8::/32" or a single address)");
        }
      }
    }
    if (const auto* n = r.str(*lt, "unknown_sni", l.unknown_sni)) {
      if (l.unknown_sni != "reject") {
        unknown_sni_refs_.push_back(SniRef{l.unknown_sni, r.pos(*n)});
      }
    }
    if (const auto* n = r.get(*lt, "client_auth")) {
      std::string ca;
      if (l.kind != ListenerConfig::Kind::egress) {
        r.error(r.pos(*n), "client_auth applies to egress listeners only",
                "client certificates at ingress are set per tenant with [tls] client_ca");
      } else if (r.choice(*lt, "client_auth", {"mesh", "none"}, ca)) {
        l.client_auth =
            ca == "none" ? ListenerConfig::ClientAuth::none : ListenerConfig::ClientAuth::mesh;
      }
    }
    if (l.kind == ListenerConfig::Kind::egress &&
        l.client_auth == ListenerConfig::ClientAuth::mesh && !mtls_user_) {
      mtls_user_ = l.pos;
      mtls_user_what_ = "egress listener \"" + l.name + "\" authenticates workloads by mesh mTLS";
    }
    cfg.listeners.push_back(std::move(l));
  }

  for (const toml::table* et : r.table_array(root, "egress")) {
    EgressConfig e;
    e.pos = r.pos(*et);
    r.known_keys(*et, {"host", "port", "ca", "pins", "allow", "min_tls", "mode", "allow_private"},
                 "[[egress]]");
    if (const auto* n = r.str(*et, "host", e.host)) {
      read_host(r, *n, e.host, "egress host");
    } else if (r.get(*et, "host") == nullptr) {
      r.error(e.pos, "[[egress]] needs a host", std::string(kHostAccepted));
    }
    r.integer(*et, "port", e.port, 1, 65535);
    std::string ca;
    if (const auto* n = r.str(*et, "ca", ca)) {
      if (ca.empty()) {
        r.error(r.pos(*n), "egress ca must not be empty", R"("system" or a PEM bundle path)");
      } else {
        e.ca = ca == "system" ? ca : r.resolve(ca);
      }
    }
    std::vector<const toml::node*> pin_nodes;
    if (r.strings(*et, "pins", e.pins, &pin_nodes)) {
      for (std::size_t i = 0; i < pin_nodes.size(); ++i) {
        if (!valid_pin(e.pins[i])) {
          r.error(r.pos(*pin_nodes[i]), "pin \"" + e.pins[i] + "\" is not a SHA-256 SPKI pin",
                  "\"sha256/\" followed by the base64 of 32 bytes (44 characters)");
        }
      }
    }
    std::vector<const toml::node*> allow_nodes;
    if (const auto* n = r.strings(*et, "allow", e.allow, &allow_nodes)) {
      if (e.allow.empty()) {
        r.error(r.pos(*n), "allow must not be empty",
                "SPIFFE IDs of the workloads allowed to reach this destination, or \"*\"");
      }
      for (std::size_t i = 0; i < allow_nodes.size(); ++i) {
        // "unauthenticated" names the clients of a client_auth = "none" listener; "*" does not
        // include them.
        if (e.allow[i] != "*" && e.allow[i] != "unauthenticated" &&
            !valid_spiffe_id(e.allow[i])) {
          r.error(r.pos(*allow_nodes[i]), "allow entry \"" + e.allow[i] + "\" is not a SPIFFE ID",
                  "\"spiffe://<trust domain>/ns/<ns>/sa/<sa>\", \"*\" (any mesh identity) or "
                  "\"unauthenticated\"");
        }
      }
    } else if (r.get(*et, "allow") == nullptr) {
      r.error(e.pos, "[[egress]] needs allow (default deny: nobody may use this entry)",
              "allow = [\"spiffe://<trust domain>/ns/<ns>/sa/<sa>\"] or [\"*\"]");
    }
    read_min_tls(r, *et, e.min_tls);
    r.choice(*et, "mode", {"originate", "tunnel"}, e.mode);
    r.boolean(*et, "allow_private", e.allow_private);
    cfg.egress.push_back(std::move(e));
  }
}

// ---- tenants.d/*.toml ----

void Validator::read_tenant(const toml::table& root, const std::string& file, Config& cfg) {
  Reader r(file, out_);
  TenantConfig t;
  t.file = file;
  r.known_keys(root, {"name", "hosts", "tls", "route", "cluster"}, "a tenant file");

  if (const auto* n = r.str(root, "name", t.name)) {
    if (!valid_tenant_name(t.name)) {
      r.error(r.pos(*n), "tenant name \"" + t.name + "\" is not valid",
              "1 to 63 characters of a-z, 0-9 and '-'");
    } else if (auto [it, fresh] = tenant_names_.emplace(t.name, r.pos(*n)); !fresh) {
      r.error(r.pos(*n), "tenant name \"" + t.name + "\" is already used by " + it->second.file,
              "a name used by no other tenant");
    }
  } else if (r.get(root, "name") == nullptr) {
    r.error(r.file_pos(), "tenant file needs a name", "name = \"acme\"");
  }

  std::vector<const toml::node*> host_nodes;
  if (const auto* n = r.strings(root, "hosts", t.hosts, &host_nodes)) {
    if (t.hosts.empty()) {
      r.error(r.pos(*n), "hosts must not be empty", std::string(kHostAccepted));
    }
    for (std::size_t i = 0; i < host_nodes.size(); ++i) {
      const Pos p = r.pos(*host_nodes[i]);
      t.pos_hosts.push_back(p);
      if (!read_host(r, *host_nodes[i], t.hosts[i], "host")) {
        continue;
      }
      auto [it, fresh] = hosts_.emplace(t.hosts[i], Seen{t.name, p});
      if (!fresh) {
        const Seen& s = it->second;
        if (s.pos.file == file) {
          r.error(p, "host \"" + t.hosts[i] + "\" is listed twice (first at line " +
                         std::to_string(s.pos.line) + ")");
        } else {
          r.error(p, "host \"" + t.hosts[i] + "\" is already claimed by tenant \"" + s.tenant +
                         "\" in " + s.pos.file + ":" + std::to_string(s.pos.line) + ":" +
                         std::to_string(s.pos.col),
                  "a host name that no other tenant lists");
        }
      }
    }
  } else if (r.get(root, "hosts") == nullptr) {
    r.error(r.file_pos(), "tenant file needs hosts", "hosts = [\"shop.example\"]");
  }

  if (const auto* tls = r.table(root, "tls")) {
    r.known_keys(*tls, {"cert", "key", "client_ca", "min_tls"}, "[tls]");
    struct {
      const char* key;
      std::string* out;
      Pos* pos;
      bool required;
    } paths[] = {{"cert", &t.cert, &t.pos_cert, true},
                 {"key", &t.key, &t.pos_key, true},
                 {"client_ca", &t.client_ca, &t.pos_client_ca, false}};
    for (auto& p : paths) {
      std::string s;
      if (const auto* n = r.str(*tls, p.key, s)) {
        *p.pos = r.pos(*n);
        if (s.empty() && p.required) {
          r.error(r.pos(*n), std::string("[tls] ") + p.key + " must not be empty",
                  "a PEM file path");
        } else {
          *p.out = r.resolve(s);
        }
      } else if (p.required && r.get(*tls, p.key) == nullptr) {
        r.error(r.pos(*tls), std::string("[tls] needs ") + p.key, "a PEM file path");
      }
    }
    read_min_tls(r, *tls, t.min_tls);
  } else if (r.get(root, "tls") == nullptr) {
    r.error(r.file_pos(), "tenant file needs a [tls] table with cert and key",
            "[tls] cert = \"certs/acme.pem\" key = \"certs/acme.key\"");
  }

  // Clusters first, so routes can be checked against them.
  if (const auto* ct = r.table(root, "cluster")) {
    for (auto&& [k, v] : *ct) {
      ClusterConfig c;
      c.name = std::string(k.str());
      const auto* cl = v.as_table();
      if (cl == nullptr) {
        r.error(r.pos(v), "cluster." + c.name + " must be a table ([cluster." + c.name + "])");
        continue;
      }
      c.pos = r.pos(*cl);
      const std::string where = "[cluster." + c.name + "]";
      r.known_keys(*cl,
                   {"endpoints", "identity", "server_name", "protocol", "plaintext",
                    "connect_timeout", "request_timeout", "health_path", "health_interval",
                    "healthy_threshold", "unhealthy_threshold", "max_failures", "eject_time"},
                   where);
      std::vector<const toml::node*> ep_nodes;
      if (const auto* n = r.strings(*cl, "endpoints", c.endpoints, &ep_nodes)) {
        if (c.endpoints.empty()) {
          r.error(r.pos(*n), "endpoints must not be empty", "[\"host:port\", ...]");
        }
        for (std::size_t i = 0; i < ep_nodes.size(); ++i) {
          if (!valid_endpoint(c.endpoints[i])) {
            r.error(r.pos(*ep_nodes[i]), "endpoint \"" + c.endpoints[i] + "\" is not valid",
                    "\"host:port\", \"a.b.c.d:port\" or \"[v6]:port\", port 1-65535");
          }
        }
      } else if (r.get(*cl, "endpoints") == nullptr) {
        r.error(c.pos, where + " needs endpoints", "endpoints = [\"host:port\"]");
      }
      r.boolean(*cl, "plaintext", c.plaintext);
      if (const auto* n = r.str(*cl, "identity", c.identity)) {
        const std::string& td = cfg.mesh.trust_domain;
        if (!valid_spiffe_id(c.identity)) {
          r.error(r.pos(*n), "identity \"" + c.identity + "\" is not a SPIFFE ID",
                  "\"spiffe://" + (td.empty() ? std::string("<trust domain>") : td) + "/ns/" +
                      (t.name.empty() ? std::string("<tenant>") : t.name) + "/...\"");
        } else if (!td.empty() && !t.name.empty()) {
          const std::string prefix = "spiffe://" + td + "/ns/" + t.name + "/";
          if (!routing::in_namespace(c.identity, td, t.name)) {
            r.error(r.pos(*n),
                    "tenant isolation: identity \"" + c.identity + "\" of cluster \"" + c.name +
                        "\" lies outside tenant \"" + t.name + "\"",
                    "an identity under " + prefix);
          }
        }
      }
      if (const auto* n = r.str(*cl, "server_name", c.server_name)) {
        if (!c.server_name.empty() && !valid_dns_name(c.server_name, true, true)) {
          r.error(r.pos(*n), "server_name \"" + c.server_name + "\" is not a DNS name");
        }
      }
      if (c.identity.empty() && c.server_name.empty() && !c.plaintext &&
          r.get(*cl, "identity") == nullptr) {
        r.error(c.pos, where + " needs identity (or server_name) to verify the upstream",
                "identity = \"spiffe://<trust domain>/ns/" + t.name +
                    "/sa/<name>\", server_name = \"<dns name>\", or plaintext = true");
      }
      std::string proto;
      if (r.choice(*cl, "protocol", {"h2", "http/1.1"}, proto)) {
        c.protocol = proto == "h2" ? ClusterConfig::Protocol::h2 : ClusterConfig::Protocol::http1;
      }
      r.duration(*cl, "connect_timeout", c.connect_timeout, false);
      r.duration(*cl, "request_timeout", c.request_timeout, false);
      if (const auto* n = r.str(*cl, "health_path", c.health_path)) {
        if (!c.health_path.empty() && c.health_path.front() != '/') {
          r.error(r.pos(*n), "health_path must start with '/'", "\"/healthz\"");
        }
      }
      r.duration(*cl, "health_interval", c.health_interval, false);
      r.integer(*cl, "healthy_threshold", c.healthy_threshold, 1, 100);
      r.integer(*cl, "unhealthy_threshold", c.unhealthy_threshold, 1, 100);
      r.integer(*cl, "max_failures", c.max_failures, 1, 1000);
      r.duration(*cl, "eject_time", c.eject_time, false);
      if (!c.plaintext && !mtls_user_) {
        mtls_user_ = c.pos;
        mtls_user_what_ = "cluster \"" + c.name + "\" of tenant \"" + t.name + "\" uses mTLS";
      }
      t.clusters.push_back(std::move(c));
    }
  }

  for (const toml::table* rt : r.table_array(root, "route")) {
    RouteConfig rc;
    rc.pos = r.pos(*rt);
    r.known_keys(*rt, {"path", "path_prefix", "cluster", "direct_response", "status"},
                 "[[route]]");
    const toml::node* path = r.str(*rt, "path", rc.path);
    const toml::node* prefix = r.str(*rt, "path_prefix", rc.path_prefix);
    const bool has_path = r.get(*rt, "path") != nullptr;
    const bool has_prefix = r.get(*rt, "path_prefix") != nullptr;
    if (has_path == has_prefix) {
      r.error(has_prefix ? r.pos(*r.get(*rt, "path_prefix")) : rc.pos,
              "a route needs exactly one of path and path_prefix",
              "path = \"/exact\" or path_prefix = \"/api/\"");
    } else if (path != nullptr && !rc.path.starts_with('/')) {
      r.error(r.pos(*path), "path \"" + rc.path + "\" must start with '/'", "\"/exact\"");
    } else if (prefix != nullptr && !rc.path_prefix.starts_with('/')) {
      r.error(r.pos(*prefix), "path_prefix \"" + rc.path_prefix + "\" must start with '/'",
              "\"/api/\"");
    }
    rc.prefix = has_prefix;
    const toml::node* cluster = r.str(*rt, "cluster", rc.cluster);
    std::string body;
    const bool has_cluster = r.get(*rt, "cluster") != nullptr;
    const bool has_direct = r.get(*rt, "direct_response") != nullptr;
    if (r.str(*rt, "direct_response", body)) {
      rc.direct_response = body;
    }
    if (has_cluster == has_direct) {
      r.error(has_direct ? r.pos(*r.get(*rt, "direct_response")) : rc.pos,
              "a route needs exactly one of cluster and direct_response",
              "cluster = \"<name of a [cluster.NAME] in this file>\" or direct_response = \"...\"");
    } else if (cluster != nullptr) {
      const bool found = std::any_of(t.clusters.begin(), t.clusters.end(),
                                     [&](const ClusterConfig& c) { return c.name == rc.cluster; });
      if (!found) {
        std::string names;
        for (const auto& c : t.clusters) {
          names += names.empty() ? "\"" : ", \"";
          names += c.name + "\"";
        }
        r.error(r.pos(*cluster),
                "route cluster \"" + rc.cluster + "\" is not a cluster of tenant \"" + t.name +
                    "\" (a tenant's routes reach only its own clusters)",
                names.empty() ? "a [cluster.NAME] defined in this file" : names);
      }
    }
    if (const auto* n = r.integer(*rt, "status", rc.status, 100, 599)) {
      if (!has_direct) {
        r.error(r.pos(*n), "status applies only to routes with direct_response");
      }
    }
    t.routes.push_back(std::move(rc));
  }

  cfg.tenants.push_back(std::move(t));
}

// ---- across files ----

void Validator::finish(Config& cfg) {
  for (const SniRef& ref : unknown_sni_refs_) {
    if (tenant_names_.count(ref.tenant) == 0) {
      std::string accepted = "\"reject\"";
      for (const auto& [name, pos] : tenant_names_) {
        accepted += ", \"" + name + "\"";
      }
      out_.push_back(Diagnostic{Diagnostic::Severity::error, ref.pos,
                                "unknown_sni = \"" + ref.tenant + "\" is not a tenant", accepted});
    }
  }
  if (mtls_user_) {
    if (!mesh_present_) {
      out_.push_back(Diagnostic{Diagnostic::Severity::error, *mtls_user_,
                                "[mesh] (trust_domain, ca, cert, key) is required: " +
                                    mtls_user_what_ + ", but " + cfg.file + " has no [mesh]",
                                "a [mesh] table in gateway.toml, or plaintext = true"});
    }
  }
  std::sort(cfg.tenants.begin(), cfg.tenants.end(),
            [](const TenantConfig& a, const TenantConfig& b) { return a.name < b.name; });
}

}  // namespace portcullis::gateway::config
