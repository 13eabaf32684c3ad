#include <catch2/catch.hpp>

#include <sys/resource.h>

#include "gateway/config/analyze.h"
#include "gateway/config/config.h"
#include "gateway/config/descriptor_limit.h"

namespace cfg = portcullis::gateway::config;

namespace {

cfg::Config two_listeners(std::uint32_t cap) {
  cfg::Config c;
  c.listeners.resize(2);
  c.limits.max_connections_per_listener = cap;
  return c;
}

// Lowers this process's soft RLIMIT_NOFILE for one scope (a soft limit can be raised back).
class SoftNofile {
 public:
  explicit SoftNofile(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit rl = saved_;
    rl.rlim_cur = soft;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  ~SoftNofile() { ::setrlimit(RLIMIT_NOFILE, &saved_); }

 private:
  rlimit saved_{};
};

}  // namespace

TEST_CASE("descriptor limit: every listener full plus a reserve", "[config][fd]") {
  const auto c = two_listeners(1000);
  CHECK(cfg::descriptors_for_caps(c) == 2000 + cfg::kDescriptorReserve);
  CHECK(cfg::descriptor_limit_warning(c, 2000 + cfg::kDescriptorReserve).empty());
  const std::string w = cfg::descriptor_limit_warning(c, 1024);
  CHECK(w.find("needs 2064 descriptors") != std::string::npos);
  CHECK(w.find("RLIMIT_NOFILE is 1024") != std::string::npos);
  CHECK(w.find("about 960 connections") != std::string::npos);
  CHECK(cfg::descriptor_limit_warning(cfg::Config{}, 10).empty());  // no listeners, no demand
}

TEST_CASE("descriptor limit: the process's soft limit is read", "[config][fd]") {
  const SoftNofile lowered(200);
  CHECK(cfg::soft_nofile_limit() == 200);
}

TEST_CASE("check warns only when an explicit cap exceeds the descriptor limit", "[config][fd]") {
  const SoftNofile lowered(256);
  auto c = two_listeners(100'000);
  const auto mentions_nofile = [](const std::vector<cfg::Diagnostic>& ds) {
    for (const auto& d : ds) {
      if (d.severity == cfg::Diagnostic::Severity::warning &&
          d.message.find("RLIMIT_NOFILE") != std::string::npos) {
        return true;
      }
    }
    return false;
  };
  CHECK_FALSE(mentions_nofile(cfg::analyze(c, 0)));  // the default is a ceiling
  c.limits.pos_max_connections_per_listener = cfg::Pos{"gateway.toml", 12, 32};
  CHECK(mentions_nofile(cfg::analyze(c, 0)));
  c.limits.max_connections_per_listener = 64;  // 2 x 64 + 64 = 192 fit in 256
  CHECK_FALSE(mentions_nofile(cfg::analyze(c, 0)));
}
