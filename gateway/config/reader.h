// Reader: reads typed values out of one file's toml tables and reports every problem with its
// file:line:col and, where it helps, what would have been accepted. Shared by the gateway and
// tenant schemas. Internal to gateway/config (namespace detail).
//
// Thread: one Reader per file being read, on the loading thread. Holds references to the file
// name and the Diagnostic vector; both must outlive it. Never throws on bad input.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "gateway/config/config.h"
#include "gateway/config/grammar.h"

namespace portcullis::gateway::config::detail {

inline constexpr std::string_view kDurationAccepted = R"("500ms", "15s", "2m", "1h")";
inline constexpr std::string_view kSizeAccepted =
    R"(an integer number of bytes, "64KiB", "1MiB", "1GiB")";
inline constexpr std::string_view kAddressAccepted =
    R"("a.b.c.d:port" or "[v6]:port", port 1-65535)";
inline constexpr std::string_view kHostAccepted =
    R"(a lower-case DNS name like "shop.example" or a one-label wildcard like "*.example.com")";

// "a", "b" -> "\"a\", \"b\"" for the accepted part of a diagnostic.
std::string quoted_list(std::initializer_list<std::string_view> items);
// "a string", "an integer", ... for type errors.
std::string_view type_name(const toml::node& n);

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

// Lower-cases and validates a host pattern; reports at the element's position.
bool read_host(Reader& r, const toml::node& n, std::string& host, std::string_view what);
// min_tls = "1.2" | "1.3".
void read_min_tls(Reader& r, const toml::table& t, std::string& out);

}  // namespace portcullis::gateway::config::detail
