// Fuzz target: gateway::config::load() on arbitrary gateway.toml (and tenant) files.
//
// Input: the text of gateway.toml; every line "#@tenant" starts the text of the next tenant
// file, written as tenants.d/tN.toml (so seeds that say tenants_dir = "tenants.d" reach the
// tenant reader and the cross-file checks). The loader must never crash or throw, and a result
// is either a config without errors or errors without a config.
// Thread: one process, one iteration at a time; the temp dir is per process and removed at exit.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <unistd.h>

#include "gateway/config/config.h"
#include "tests/fuzz/fuzz_check.h"

namespace cfg = portcullis::gateway::config;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kTenantMarker = "\n#@tenant\n";

// A fresh directory under $TMPDIR for this process, removed at exit.
class ProcessDir {
 public:
  ProcessDir() {
    std::string tmpl = (fs::temp_directory_path() / "pc-fuzz-config-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) {
      root_ = tmpl;
    }
  }
  ~ProcessDir() {
    std::error_code ec;
    if (!root_.empty()) {
      fs::remove_all(root_, ec);
    }
  }
  ProcessDir(const ProcessDir&) = delete;
  ProcessDir& operator=(const ProcessDir&) = delete;
  const fs::path& root() const noexcept { return root_; }

 private:
  fs::path root_;
};

void write_file(const fs::path& p, std::string_view content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static ProcessDir dir;  // destroyed at exit
  if (dir.root().empty()) {
    return 0;
  }
  std::error_code ec;
  const fs::path tenants = dir.root() / "tenants.d";
  fs::remove_all(tenants, ec);
  fs::create_directories(tenants, ec);

  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::size_t cut = in.find(kTenantMarker);
  write_file(dir.root() / "gateway.toml", in.substr(0, cut));
  for (int n = 0; cut != std::string_view::npos && n < 16; ++n) {
    in = in.substr(cut + kTenantMarker.size());
    cut = in.find(kTenantMarker);
    write_file(tenants / ("t" + std::to_string(n) + ".toml"), in.substr(0, cut));
  }

  try {
    const cfg::LoadResult r = cfg::load((dir.root() / "gateway.toml").string());
    bool has_error = false;
    for (const auto& d : r.diagnostics) {
      (void)d.format();
      if (d.severity == cfg::Diagnostic::Severity::error) {
        has_error = true;
      }
    }
    FUZZ_CHECK(r.ok() != has_error);
  } catch (...) {
    std::fprintf(stderr, "config::load() threw; it is documented never to throw\n");
    std::abort();
  }
  return 0;
}
