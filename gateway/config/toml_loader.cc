#include "gateway/config/toml_loader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <utility>

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

namespace {

LoadResult load_files(const std::string& gateway_toml_path, bool isolate) {
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
    return result;
  }
  if (!isolate || cfg.gateway.tenant_errors != GatewaySection::TenantErrors::quarantine) {
    return result;
  }
  std::vector<Diagnostic> errors;
  for (const auto& d : diags) {
    if (d.severity != Diagnostic::Severity::error) {
      continue;
    }
    if (!is_tenant_error(cfg, d)) {
      return result;  // gateway.toml (or a file it names) is at fault: refuse as a whole
    }
    errors.push_back(d);
  }
  quarantine_unparsed(cfg, files, errors);
  quarantine_tenants(cfg, errors);
  result.config = std::move(cfg);
  return result;
}

}  // namespace

LoadResult load(const std::string& gateway_toml_path) {
  return load_files(gateway_toml_path, false);
}

void quarantine_unparsed(Config& cfg, const std::vector<std::string>& files,
                         const std::vector<Diagnostic>& errors) {
  for (const auto& f : files) {
    const bool parsed = std::any_of(cfg.tenants.begin(), cfg.tenants.end(),
                                    [&](const TenantConfig& t) { return t.file == f; });
    const auto first = std::find_if(errors.begin(), errors.end(),
                                    [&](const Diagnostic& d) { return d.pos.file == f; });
    if (!parsed && first != errors.end()) {
      QuarantinedTenant q;
      q.name = std::filesystem::path(f).stem().string();
      q.file = f;
      q.error = first->format();
      q.errors = static_cast<std::size_t>(std::count_if(
          errors.begin(), errors.end(), [&](const Diagnostic& d) { return d.pos.file == f; }));
      cfg.quarantined.push_back(std::move(q));
    }
  }
}

LoadResult load_isolating(const std::string& gateway_toml_path) {
  return load_files(gateway_toml_path, true);
}

bool is_tenant_error(const Config& cfg, const Diagnostic& d) {
  if (cfg.gateway.tenants_dir.empty() || d.pos.file.empty()) {
    return false;
  }
  // Tenant files are listed as (tenants_dir / name).lexically_normal(): compare their parent.
  std::filesystem::path dir = std::filesystem::path(cfg.gateway.tenants_dir).lexically_normal();
  if (!dir.has_filename()) {
    dir = dir.parent_path();  // "x/tenants.d/" -> "x/tenants.d"
  }
  return std::filesystem::path(d.pos.file).parent_path() == dir;
}

std::vector<std::size_t> quarantine_tenants(Config& cfg, const std::vector<Diagnostic>& errors) {
  std::unordered_map<std::string_view, std::pair<const Diagnostic*, std::size_t>> by_file;
  for (const auto& d : errors) {
    if (d.severity == Diagnostic::Severity::error) {
      auto& slot = by_file[d.pos.file];
      slot.first = slot.first != nullptr ? slot.first : &d;
      ++slot.second;
    }
  }
  std::vector<std::size_t> kept;
  kept.reserve(cfg.tenants.size());
  if (by_file.empty()) {
    for (std::size_t i = 0; i < cfg.tenants.size(); ++i) {
      kept.push_back(i);
    }
    return kept;
  }
  CowVector<TenantConfig> stay;  // by pointer: tenants shared with a running generation stay so
  stay.reserve(cfg.tenants.size());
  for (std::size_t i = 0; i < cfg.tenants.size(); ++i) {
    const TenantConfig& t = std::as_const(cfg.tenants)[i];
    const auto it = by_file.find(t.file);
    if (it == by_file.end()) {
      kept.push_back(i);
      stay.push_shared(cfg.tenants.shared(i));
      continue;
    }
    QuarantinedTenant q;
    q.name = t.name.empty() ? std::filesystem::path(t.file).stem().string() : t.name;
    q.file = t.file;
    q.hosts = t.hosts;
    q.error = it->second.first->format();
    q.errors = it->second.second;
    cfg.quarantined.push_back(std::move(q));
  }
  cfg.tenants = std::move(stay);
  std::sort(cfg.quarantined.begin(), cfg.quarantined.end(),
            [](const QuarantinedTenant& a, const QuarantinedTenant& b) { return a.name < b.name; });
  return kept;
}

}  // namespace portcullis::gateway::config
