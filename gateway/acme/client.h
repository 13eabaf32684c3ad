// AcmeClient: one ACME account's conversation with one directory (RFC 8555): directory, nonces,
// the account (created or found again with the same key), and an order for one tenant's hosts
// through HTTP-01 or TLS-ALPN-01 (the answers go to tls::AcmeChallenges, where the listeners
// find them), finalized with a CSR for a fresh P-256 key. ARI (RFC 9773) when offered.
// Thread: one AcmeClient per thread (blocking calls); the account key is shared read-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "certs/ptr.h"
#include "gateway/acme/http.h"
#include "gateway/config/config.h"

namespace portcullis::gateway::acme {

struct OrderResult {
  bool ok = false;
  std::string error;                 // why it failed (the CA's problem detail when it sent one)
  std::chrono::seconds retry_after{0};  // the CA's Retry-After, when it asked for one
  std::string chain_pem;             // leaf first
  certs::EvpPkeyPtr key;             // the key the chain certifies
};

// RFC 9773: when the CA suggests renewing.
struct RenewalWindow {
  std::int64_t start = 0;  // unix seconds
  std::int64_t end = 0;
  std::chrono::seconds retry_after{0};
};

class AcmeClient {
 public:
  // `account_key` must outlive the client. `on_challenge(host, type)` is called when a
  // challenge answer is published (for the audit log).
  AcmeClient(const config::AcmeSection& cfg, EVP_PKEY* account_key,
             std::function<void(const std::string&, const std::string&)> on_challenge = {});

  // Fetches the directory and registers (or finds) the account. False with `err` on failure.
  bool ensure_account(std::string& err, std::chrono::seconds& retry_after);
  bool offers_renewal_info() const { return directory_.contains("renewalInfo"); }

  OrderResult order(const std::vector<std::string>& hosts);

  // The CA's suggested window for `cert` (issued by `issuer`), when the directory offers ARI.
  std::optional<RenewalWindow> renewal_info(X509* cert);

 private:
  HttpResponse signed_post(const std::string& url, const std::string& payload);
  bool fresh_nonce();
  bool publish(const nlohmann::json& challenge, const std::string& host, std::string& err);
  void withdraw(const nlohmann::json& challenge, const std::string& host);
  // Polls `url` (POST-as-GET) until its status is not in `pending`; bounded.
  nlohmann::json poll(const std::string& url, std::initializer_list<const char*> pending,
                      std::string& err);

  config::AcmeSection cfg_;
  EVP_PKEY* key_;
  std::function<void(const std::string&, const std::string&)> on_challenge_;
  HttpClient http_;
  nlohmann::json directory_;
  std::string kid_;
  std::string nonce_;
};

// The problem detail of an error response, or the status.
std::string problem_text(const HttpResponse& r);

}  // namespace portcullis::gateway::acme
