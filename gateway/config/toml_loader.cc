#include "gateway/config/toml_loader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gateway/config/validate.h"

namespace portcullis::gateway::config {

namespace {

// Orders the diagnostics appended since `from` by position, so a file's errors read top-down
// (toml++ tables iterate in key order, not document order).
void sort_from(std::vector<Diagnostic>& d, std::size_t from) {
  std::stable_sort(d.begin() + static_cast<std::ptrdiff_t>(from), d.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     if (a.pos.file != b.pos.file) {
                       return false;  // keep file order as produced
                     }
                     if (a.pos.line != b.pos.line) {
                       return a.pos.line < b.pos.line;
                     }
                     return a.pos.col < b.pos.col;
                   });
}

}  // namespace

std::optional<toml::table> parse_toml_string(std::string_view text, const std::string& path,
                                             std::vector<Diagnostic>& out) {
  try {
    return toml::parse(text, std::string_view(path));
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    out.push_back(Diagnostic{Diagnostic::Severity::error,
                             Pos{path, static_cast<int>(b.line), static_cast<int>(b.column)},
                             "TOML syntax: " + std::string(e.description()),
                             {}});
    return std::nullopt;
  }
}

std::optional<toml::table> parse_toml_file(const std::string& path,
                                           std::vector<Diagnostic>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out.push_back(Diagnostic{Diagnostic::Severity::error, Pos{path, 0, 0},
                             "cannot read file", {}});
    return std::nullopt;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) {
    out.push_back(Diagnostic{Diagnostic::Severity::error, Pos{path, 0, 0},
                             "cannot read file", {}});
    return std::nullopt;
  }
  return parse_toml_string(buf.str(), path, out);
}

LoadResult load(const std::string& gateway_toml_path) {
  LoadResult result;
  auto& diags = result.diagnostics;
  std::error_code ec;
  std::filesystem::path gw = std::filesystem::absolute(gateway_toml_path, ec);
  const std::string gw_file = ec ? gateway_toml_path : gw.lexically_normal().string();

  Config cfg;
  Validator v(diags);
  auto root = parse_toml_file(gw_file, diags);
  if (!root) {
    return result;
  }
  v.read_gateway(*root, gw_file, cfg);
  sort_from(diags, 0);

  const std::filesystem::path dir(cfg.gateway.tenants_dir);
  std::vector<std::string> files;
  if (std::filesystem::is_directory(dir, ec)) {
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end;
         it.increment(ec)) {
      const auto& p = it->path();
      if (p.extension() == ".toml" && !p.filename().string().starts_with(".") &&
          it->is_regular_file(ec)) {
        files.push_back(p.lexically_normal().string());
      }
    }
    if (ec) {
      diags.push_back(Diagnostic{Diagnostic::Severity::error, v.tenants_dir_pos(),
                                 "cannot list tenants_dir " + dir.string() + ": " + ec.message(),
                                 {}});
    }
  } else if (v.tenants_dir_explicit()) {
    diags.push_back(Diagnostic{Diagnostic::Severity::error, v.tenants_dir_pos(),
                               "tenants_dir " + dir.string() + " is not a directory",
                               "an existing directory of tenant files (NAME.toml)"});
  }
  std::sort(files.begin(), files.end());

  for (const auto& f : files) {
    const std::size_t from = diags.size();
    if (auto t = parse_toml_file(f, diags)) {
      v.read_tenant(*t, f, cfg);
    }
    sort_from(diags, from);
  }
  v.finish(cfg);

  const bool has_error = std::any_of(diags.begin(), diags.end(), [](const Diagnostic& d) {
    return d.severity == Diagnostic::Severity::error;
  });
  if (!has_error) {
    result.config = std::move(cfg);
  }
  return result;
}

}  // namespace portcullis::gateway::config
