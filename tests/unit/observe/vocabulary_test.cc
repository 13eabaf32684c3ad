// The one vocabulary: every Reason and every AuditEvent has its own word (logs and metric labels
// carry these words verbatim, so two values sharing one would merge two different failures).
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "gateway/observe/audit_log.h"
#include "gateway/observe/reason.h"

namespace gw = portcullis::gateway;

TEST_CASE("every Reason has its own word") {
  std::set<std::string> seen;
  const auto last = static_cast<unsigned>(gw::Reason::acme_failed);
  for (unsigned i = 0; i <= last; ++i) {
    const std::string w{gw::to_string(static_cast<gw::Reason>(i))};
    INFO("Reason #" << i << " = " << w);
    CHECK(w != "unknown");
    CHECK(seen.insert(w).second);
  }
  // Words operators already alert on keep their spelling.
  CHECK(gw::to_string(gw::Reason::egress_destination_not_listed) == "destination_not_listed");
  CHECK(gw::to_string(gw::Reason::egress_sni_mismatch) == "sni_mismatch");
  CHECK(gw::to_string(gw::Reason::invalid_certificate) == "invalid_certificate");
  CHECK(gw::to_string(gw::Reason::admin_unauthorized) == "admin_unauthorized");
}

TEST_CASE("every AuditEvent has its own word") {
  namespace obs = gw::observe;
  std::set<std::string> seen;
  const auto last = static_cast<unsigned>(obs::AuditEvent::admin_reject);
  for (unsigned i = 0; i <= last; ++i) {
    const std::string w{obs::to_string(static_cast<obs::AuditEvent>(i))};
    INFO("AuditEvent #" << i << " = " << w);
    CHECK(w != "unknown");
    CHECK(seen.insert(w).second);
  }
  CHECK(seen.size() == 19);  // README "What operators see" lists nineteen
  CHECK(obs::to_string(obs::AuditEvent::proxy_reject) == "proxy_reject");
}
