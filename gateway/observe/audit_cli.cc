#include "gateway/observe/audit_cli.h"

#include <cstring>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/observe/audit_chain.h"
#include "gateway/observe/audit_log.h"

namespace portcullis::gateway::observe {
namespace {

constexpr const char* kUsage =
    "usage: portcullis audit verify [--key FILE] [--continued] FILE...\n"
    "  Checks the hash chain of audit log files, given oldest first (audit.log.1 audit.log).\n"
    "  --key FILE    the [log] audit_key the lines were chained with (HMAC-SHA256)\n"
    "  --continued   the first file follows an older one that is not given\n"
    "  Exit 0: the chain holds; 1: the first broken line is printed; 2: usage or read error.\n";

}  // namespace

int audit_main(int argc, char** argv, std::ostream& out, std::ostream& err) {
  if (argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    out << kUsage;
    return 0;
  }
  if (argc < 2 || std::strcmp(argv[1], "verify") != 0) {
    err << kUsage;
    return 2;
  }
  std::string key_file;
  bool continued = false;
  std::vector<ChainInput> files;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      out << kUsage;
      return 0;
    }
    if (a == "--key" && i + 1 < argc) {
      key_file = argv[++i];
    } else if (a == "--continued") {
      continued = true;
    } else if (!a.empty() && a[0] == '-') {
      err << kUsage;
      return 2;
    } else {
      std::ifstream in(a, std::ios::binary);
      if (!in) {
        err << "portcullis audit verify: cannot read " << a << "\n";
        return 2;
      }
      std::ostringstream ss;
      ss << in.rdbuf();
      files.push_back({a, ss.str()});
    }
  }
  if (files.empty()) {
    err << kUsage;
    return 2;
  }
  ChainHasher hasher;
  if (!key_file.empty()) {
    std::string key;
    std::string e;
    if (!read_chain_key(key_file, key, e)) {
      err << "portcullis audit verify: " << e << "\n";
      return 2;
    }
    hasher = ChainHasher(std::move(key));
  }
  const VerifyResult r = verify_chain(files, hasher, continued);
  if (!r.ok) {
    err << r.file << ":" << r.line << ": " << r.message << "\n";
    return 1;
  }
  out << "ok: " << r.lines << " lines, chain holds (" << hasher.algorithm() << ")\n";
  return 0;
}

}  // namespace portcullis::gateway::observe
