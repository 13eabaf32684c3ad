#include "gateway/config/config.h"

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

}  // namespace portcullis::gateway::config
