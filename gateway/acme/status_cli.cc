#include "gateway/acme/status_cli.h"

#include <ctime>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "certs/pem.h"
#include "gateway/config/config.h"

namespace portcullis::gateway::acme {
namespace {

std::string utc(std::int64_t t) {
  if (t <= 0) {
    return "-";
  }
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

int status_main(const std::string& config_path, bool json, std::ostream& out) {
  const config::LoadResult loaded = config::load(config_path);
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) {
      std::cerr << d.format() << "\n";
    }
    return 1;
  }
  const config::Config& cfg = *loaded.config;
  if (!cfg.acme.enabled) {
    std::cerr << "portcullis: no [acme] section in " << config_path << "\n";
    return 1;
  }
  nlohmann::json schedule = nlohmann::json::object();
  if (std::ifstream f(cfg.acme.state_dir + "/status.json"); f) {
    schedule = nlohmann::json::parse(f, nullptr, false);
    if (schedule.is_discarded() || !schedule.is_object()) {
      schedule = nlohmann::json::object();
    }
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& t : cfg.tenants) {
    if (!t.acme) {
      continue;
    }
    nlohmann::json row{{"tenant", t.name}, {"hosts", t.hosts}};
    certs::Chain chain;
    certs::LoadError le;
    if (certs::load_chain(t.cert, chain, le) && !chain.certs.empty()) {
      X509* leaf = chain.certs.front().get();
      const bool placeholder =
          certs::subject_string(leaf).find(config::kAcmePlaceholderOrg) != std::string::npos;
      row["certificate"] = placeholder ? "placeholder" : "issued";
      row["issuer"] = certs::issuer_string(leaf);
      row["not_after"] = certs::not_after_unix(leaf);
    } else {
      row["certificate"] = "none";
      row["not_after"] = 0;
    }
    const nlohmann::json s = schedule.value(t.name, nlohmann::json::object());
    row["state"] = s.value("state", std::string("not started"));
    row["next_attempt"] = s.value("next_attempt", std::int64_t{0});
    row["renew_at"] = s.value("renew_at", std::int64_t{0});
    row["failures"] = s.value("failures", 0u);
    row["last_error"] = s.value("last_error", std::string());
    rows.push_back(std::move(row));
  }
  if (json) {
    out << rows.dump(2) << "\n";
    return 0;
  }
  out << "TENANT\tCERTIFICATE\tSTATE\tNOT_AFTER\tNEXT_RENEWAL\tFAILURES\tLAST_ERROR\n";
  for (const auto& r : rows) {
    const bool valid = r["state"] == "valid";
    out << r["tenant"].get<std::string>() << "\t" << r["certificate"].get<std::string>() << "\t"
        << r["state"].get<std::string>() << "\t" << utc(r["not_after"].get<std::int64_t>())
        << "\t" << utc(valid ? r["renew_at"].get<std::int64_t>() : r["next_attempt"].get<std::int64_t>())
        << "\t" << r["failures"].get<unsigned>() << "\t"
        << (r["last_error"].get<std::string>().empty() ? "-" : r["last_error"].get<std::string>())
        << "\n";
  }
  return 0;
}

}  // namespace portcullis::gateway::acme
