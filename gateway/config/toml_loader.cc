#include "gateway/config/toml_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <atomic>
#include <filesystem>
#include <string_view>
#include <thread>
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

namespace {

// The whole file, or nullopt. Plain read(2): an ifstream costs more than the read itself for a
// tenant file of a few hundred bytes (its buffer, locale and the stringstream copy).
std::optional<std::string> slurp(const std::string& path, FileIdentity* id) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return std::nullopt;
  }
  std::string text;
  struct stat st {};
  const bool have_stat = ::fstat(fd, &st) == 0;
  if (have_stat && id != nullptr) {  // before the read: a write during it differs next time
    *id = FileIdentity::of(st);
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    const std::int64_t now_ns = now.tv_sec * 1000000000LL + now.tv_nsec;
    id->settled = now_ns - std::max(id->mtime_ns, id->ctime_ns) >= 1000000000LL;
  }
  text.resize(have_stat && st.st_size > 0 ? static_cast<std::size_t>(st.st_size) + 1 : 4096);
  std::size_t have = 0;
  for (;;) {
    if (have == text.size()) {
      text.resize(text.size() * 2);
    }
    const ssize_t n = ::read(fd, text.data() + have, text.size() - have);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) {
      break;
    }
    have += static_cast<std::size_t>(n);
  }
  ::close(fd);
  text.resize(have);
  return text;
}

}  // namespace

std::optional<toml::table> parse_toml_file(const std::string& path,
                                           std::vector<Diagnostic>& out, FileIdentity* id) {
  const std::optional<std::string> text = slurp(path, id);
  if (!text) {
    out.push_back(Diagnostic{Diagnostic::Severity::error, Pos{path, 0, 0},
                             "cannot read file", {}});
    return std::nullopt;
  }
  return parse_toml_string(*text, path, out);
}

namespace {

// Tenant files per batch: the parsed tables of one batch are in memory at once (a few KiB
// each), and the threads meet once per batch.
constexpr std::size_t kParseBatch = 2048;

struct Parsed {
  std::optional<toml::table> table;
  std::vector<Diagnostic> diagnostics;
  FileIdentity id;
  std::optional<std::size_t> running;  // index in the running tenants: not parsed, taken as is
};

// A full reload with gateway.toml as the running configuration read it: its tenants by file.
struct Running {
  const Config* cfg = nullptr;
  std::unordered_map<std::string_view, std::size_t> by_file;

  explicit Running(const Config* c) : cfg(c) {
    if (cfg == nullptr) {
      return;
    }
    by_file.reserve(cfg->tenants.size());
    for (std::size_t i = 0; i < cfg->tenants.size(); ++i) {
      const TenantConfig& t = cfg->tenants[i];
      if (t.file_id.known()) {
        by_file.emplace(t.file, i);
      }
    }
  }
  // The running tenant of `file` when the file is still what it read (a stat, no read).
  std::optional<std::size_t> unchanged(const std::string& file) const {
    const auto it = by_file.find(file);
    if (it == by_file.end() || !file_unchanged(cfg->tenants[it->second])) {
      return std::nullopt;
    }
    return it->second;
  }
};

// Reads and parses files[from, from + out.size()) into `out` on up to `threads` threads
// (this one included). Each thread takes the next unclaimed file: no order between them.
void parse_batch(const std::vector<std::string>& files, std::size_t from, std::vector<Parsed>& out,
                 unsigned threads, const Running& running) {
  std::atomic<std::size_t> next{0};
  auto work = [&]() noexcept {
    for (std::size_t i = next.fetch_add(1); i < out.size(); i = next.fetch_add(1)) {
      const std::string& f = files[from + i];
      try {
        if (running.cfg != nullptr && (out[i].running = running.unchanged(f))) {
          continue;
        }
        out[i].table = parse_toml_file(f, out[i].diagnostics, &out[i].id);
      } catch (const std::exception& e) {  // out of memory: this file only
        out[i].table.reset();
        out[i].diagnostics.push_back(
            Diagnostic{Diagnostic::Severity::error, Pos{f, 0, 0},
                       std::string("cannot parse file: ") + e.what(), {}});
      }
    }
  };
  std::vector<std::thread> helpers;
  for (unsigned t = 1; t < threads; ++t) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // no thread to be had: fewer share the batch
    }
  }
  work();
  for (auto& t : helpers) {
    t.join();
  }
}

// Tenant files are read and parsed on several threads (at 100,000 tenants, reading the files
// was most of the load), and validated on this one in name order, so the diagnostics and
// every check across files come out as if one thread had done it all.
void read_tenant_files(const std::vector<std::string>& files, Validator& v, Config& cfg,
                       std::vector<Diagnostic>& diags, const Running& running) {
  const unsigned threads =
      files.size() < 64 ? 1U : std::clamp(std::thread::hardware_concurrency(), 1U, 8U);
  cfg.tenants.reserve(files.size());
  std::vector<Parsed> batch;
  for (std::size_t from = 0; from < files.size(); from += kParseBatch) {
    batch.clear();
    batch.resize(std::min(kParseBatch, files.size() - from));
    parse_batch(files, from, batch, threads, running);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const std::size_t first = diags.size();
      if (const auto r = batch[i].running) {
        if (v.adopt_tenant(running.cfg->tenants[*r])) {
          cfg.tenants.push_shared(running.cfg->tenants.shared(*r));
          continue;
        }
        batch[i].table = parse_toml_file(files[from + i], batch[i].diagnostics, &batch[i].id);
      }
      for (auto& d : batch[i].diagnostics) {
        diags.push_back(std::move(d));
      }
      if (batch[i].table) {
        v.read_tenant(*batch[i].table, files[from + i], cfg);
        cfg.tenants.back().file_id = batch[i].id;  // read_tenant always appends one
      }
      batch[i].table.reset();  // free as we go: the batch's peak is one table set
      sort_from(diags, first);
    }
  }
}

LoadResult load_files(const std::string& gateway_toml_path, bool isolate,
                      const Config* previous = nullptr) {
  LoadResult result;
  auto& diags = result.diagnostics;
  std::error_code ec;
  std::filesystem::path gw = std::filesystem::absolute(gateway_toml_path, ec);
  const std::string gw_file = ec ? gateway_toml_path : gw.lexically_normal().string();

  Config cfg;
  Validator v(diags);
  auto root = parse_toml_file(gw_file, diags, &cfg.file_id);
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
  // The running tenants are taken as they are only around the very gateway.toml they were
  // read with (its settings shape a tenant: [acme], [mesh], defaults).
  const bool same_gateway = previous != nullptr && previous->file == gw_file &&
                            previous->file_id.known() && previous->file_id.settled &&
                            previous->file_id == cfg.file_id;
  read_tenant_files(files, v, cfg, diags, Running(same_gateway ? previous : nullptr));
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
  if (errors.empty()) {
    return;
  }
  // By file, not a search per file: a reload reads 100,000 files and most tenants parsed.
  std::unordered_map<std::string_view, std::pair<const Diagnostic*, std::size_t>> by_file;
  for (const auto& d : errors) {
    auto& slot = by_file[d.pos.file];
    slot.first = slot.first != nullptr ? slot.first : &d;
    ++slot.second;
  }
  for (const auto& t : std::as_const(cfg.tenants)) {  // non-const access copies shared ones
    by_file.erase(t.file);
  }
  for (const auto& f : files) {
    const auto it = by_file.find(f);
    if (it == by_file.end()) {
      continue;  // parsed, or no error
    }
    QuarantinedTenant q;
    q.name = std::filesystem::path(f).stem().string();
    q.file = f;
    q.error = it->second.first->format();
    q.errors = it->second.second;
    cfg.quarantined.push_back(std::move(q));
  }
}

LoadResult load_isolating(const std::string& gateway_toml_path, const Config* previous) {
  return load_files(gateway_toml_path, true, previous);
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
