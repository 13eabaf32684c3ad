#include "gateway/config/analyze.h"

namespace portcullis::gateway::config {

std::vector<Diagnostic> analyze(const Config& cfg, std::int64_t) { (void)cfg; return {}; }
std::vector<Diagnostic> analyze(const Config& cfg) { return analyze(cfg, 0); }

}  // namespace portcullis::gateway::config
