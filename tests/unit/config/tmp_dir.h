// TmpDir: a fresh directory under $TMPDIR for one test, removed with everything in it;
// tenant_toml: the smallest valid tenant file, for the configuration tests.
//
// Thread: one test. Owns the directory.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace portcullis::test {

class TmpDir {
 public:
  TmpDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pc-config-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) {
      root_ = tmpl;
    }
  }
  ~TmpDir() {
    std::error_code ec;
    if (!root_.empty()) {
      std::filesystem::remove_all(root_, ec);
    }
  }
  TmpDir(const TmpDir&) = delete;
  TmpDir& operator=(const TmpDir&) = delete;

  std::string path(std::string_view rel = {}) const {
    return rel.empty() ? root_.string() : (root_ / rel).string();
  }

  // Writes `content` to root/rel, creating parent directories.
  void write(std::string_view rel, std::string_view content) const {
    const auto p = root_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
  }

 private:
  std::filesystem::path root_;
};

// A tenant NAME serving `hosts` (the inside of a TOML array: "\"a.example\", \"b.example\"")
// with one direct response; its cert and key (c.pem, c.key) are not read by the loader.
inline std::string tenant_toml(std::string_view name, std::string_view hosts) {
  std::string out = "name = \"";
  out.append(name).append("\"\nhosts = [").append(hosts);
  out += "]\n[tls]\ncert = \"c.pem\"\nkey = \"c.key\"\n[[route]]\npath_prefix = \"/\"\n"
         "direct_response = \"hi\"\n";
  return out;
}

}  // namespace portcullis::test
