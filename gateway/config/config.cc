#include "gateway/config/config.h"

#include <sys/stat.h>

namespace portcullis::gateway::config {

std::string Diagnostic::format() const {
  std::string s = pos.file;
  if (pos.line > 0) {
    s += ':' + std::to_string(pos.line) + ':' + std::to_string(pos.col > 0 ? pos.col : 1);
  }
  s += severity == Severity::error ? ": error: " : ": warning: ";
  s += message;
  if (!accepted.empty()) {
    s += " (accepted: " + accepted + ")";
  }
  return s;
}

bool file_unchanged(const TenantConfig& t) {
  struct stat st {};
  return t.file_id.known() && t.file_id.settled && ::stat(t.file.c_str(), &st) == 0 &&
         FileIdentity::of(st) == t.file_id;
}

FileIdentity FileIdentity::of(const struct stat& st) noexcept {
  FileIdentity id;
  id.dev = static_cast<std::uint64_t>(st.st_dev);
  id.ino = static_cast<std::uint64_t>(st.st_ino);
  id.size = static_cast<std::uint64_t>(st.st_size);
  id.mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  id.ctime_ns = st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
  return id;
}

}  // namespace portcullis::gateway::config
