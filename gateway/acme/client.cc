#include "gateway/acme/client.h"

#include <thread>

#include <openssl/x509v3.h>

#include "gateway/acme/jws.h"
#include "tls/acme_challenges.h"

namespace portcullis::gateway::acme {
namespace {

using nlohmann::json;

// Polling an authorization or an order: at most this many looks, this far apart. Pebble with
// PEBBLE_VA_NOSLEEP answers in well under a second; a real CA in a few seconds.
constexpr int kPollAttempts = 60;
constexpr auto kPollInterval = std::chrono::milliseconds(200);
constexpr auto kMaxPollPause = std::chrono::milliseconds(5000);

json parse(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t parse_rfc3339(const std::string& s) {
  std::tm tm{};
  if (s.size() < 19 || strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) {
    return 0;
  }
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace

std::string problem_text(const HttpResponse& r) {
  if (r.status == 0) {
    return "transport: " + r.error;
  }
  const json j = parse(r.body);
  std::string t = str(j, "type");
  std::string d = str(j, "detail");
  std::string out = "HTTP " + std::to_string(r.status);
  if (!t.empty()) out += " " + t;
  if (!d.empty()) out += ": " + d;
  return out;
}

AcmeClient::AcmeClient(const config::AcmeSection& cfg, EVP_PKEY* account_key,
                       std::function<void(const std::string&, const std::string&)> on_challenge)
    : cfg_(cfg), key_(account_key), on_challenge_(std::move(on_challenge)), http_(cfg.ca) {}

bool AcmeClient::fresh_nonce() {
  const HttpResponse r = http_.head(str(directory_, "newNonce"));
  nonce_ = r.header("replay-nonce");
  return !nonce_.empty();
}

// Every POST is signed with a fresh nonce; a badNonce answer is retried (RFC 8555 6.5) with the
// nonce it carries.
HttpResponse AcmeClient::signed_post(const std::string& url, const std::string& payload) {
  HttpResponse r;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (nonce_.empty() && !fresh_nonce()) {
      r.error = "no nonce from " + str(directory_, "newNonce");
      return r;
    }
    r = http_.post_jose(url, jws_es256(key_, kid_, nonce_, url, payload));
    nonce_ = r.header("replay-nonce");
    if (r.status == 400 && str(parse(r.body), "type") == "urn:ietf:params:acme:error:badNonce") {
      continue;
    }
    return r;
  }
  return r;
}

bool AcmeClient::ensure_account(std::string& err, std::chrono::seconds& retry_after) {
  if (!kid_.empty()) {
    return true;
  }
  if (directory_.empty()) {
    const HttpResponse d = http_.get(cfg_.directory);
    if (d.status != 200) {
      err = "directory " + cfg_.directory + ": " + problem_text(d);
      retry_after = parse_retry_after(d.header("retry-after"));
      return false;
    }
    directory_ = parse(d.body);
    if (str(directory_, "newAccount").empty() || str(directory_, "newOrder").empty()) {
      err = "directory " + cfg_.directory + " lacks newAccount/newOrder";
      directory_ = json();
      return false;
    }
  }
  json payload{{"termsOfServiceAgreed", true}};
  if (!cfg_.contact.empty()) {
    payload["contact"] = cfg_.contact;
  }
  const std::string url = str(directory_, "newAccount");
  if (!cfg_.eab_kid.empty()) {
    payload["externalAccountBinding"] = eab_binding(key_, cfg_.eab_kid, cfg_.eab_hmac_key, url);
  }
  const HttpResponse r = signed_post(url, payload.dump());
  if (r.status != 200 && r.status != 201) {
    err = "newAccount: " + problem_text(r);
    retry_after = parse_retry_after(r.header("retry-after"));
    return false;
  }
  kid_ = r.header("location");
  if (kid_.empty()) {
    err = "newAccount: no account URL";
    return false;
  }
  return true;
}

json AcmeClient::poll(const std::string& url, std::initializer_list<const char*> pending,
                      std::string& err) {
  for (int i = 0; i < kPollAttempts; ++i) {
    const HttpResponse r = signed_post(url, "");
    if (r.status != 200) {
      err = problem_text(r);
      return json();
    }
    json j = parse(r.body);
    const std::string status = str(j, "status");
    bool wait = false;
    for (const char* p : pending) {
      wait = wait || status == p;
    }
    if (!wait) {
      return j;
    }
    // The CA's Retry-After, within bounds: a poll never stalls the thread for long.
    const auto asked = std::chrono::milliseconds(parse_retry_after(r.header("retry-after")));
    std::this_thread::sleep_for(asked.count() > 0 ? std::min(asked, kMaxPollPause) : kPollInterval);
  }
  err = "still pending after " + std::to_string(kPollAttempts) + " polls: " + url;
  return json();
}

bool AcmeClient::publish(const json& ch, const std::string& host, std::string& err) {
  const std::string token = str(ch, "token");
  const std::string keyauth = token + "." + thumbprint(key_);
  if (str(ch, "type") == "http-01") {
    tls::AcmeChallenges::instance().put_http(token, keyauth);
  } else {
    auto ctx = tls_alpn_context(host, keyauth, err);
    if (!ctx) {
      return false;
    }
    tls::AcmeChallenges::instance().put_alpn(host, std::move(ctx));
  }
  if (on_challenge_) {
    on_challenge_(host, str(ch, "type"));
  }
  return true;
}

void AcmeClient::withdraw(const json& ch, const std::string& host) {
  if (str(ch, "type") == "http-01") {
    tls::AcmeChallenges::instance().drop_http(str(ch, "token"));
  } else {
    tls::AcmeChallenges::instance().drop_alpn(host);
  }
}

OrderResult AcmeClient::order(const std::vector<std::string>& hosts) {
  OrderResult out;
  if (!ensure_account(out.error, out.retry_after)) {
    return out;
  }
  json ids = json::array();
  for (const auto& h : hosts) {
    ids.push_back(json{{"type", "dns"}, {"value", h}});
  }
  const HttpResponse created = signed_post(str(directory_, "newOrder"),
                                           json{{"identifiers", ids}}.dump());
  if (created.status != 201) {
    out.error = "newOrder: " + problem_text(created);
    out.retry_after = parse_retry_after(created.header("retry-after"));
    return out;
  }
  const std::string order_url = created.header("location");
  json order = parse(created.body);

  // Each authorization: publish the answer, tell the CA, wait for its verdict, withdraw.
  for (const auto& authz_url : order.value("authorizations", json::array())) {
    const std::string url = authz_url.is_string() ? authz_url.get<std::string>() : "";
    const HttpResponse a = signed_post(url, "");
    if (a.status != 200) {
      out.error = "authorization: " + problem_text(a);
      return out;
    }
    const json authz = parse(a.body);
    if (str(authz, "status") == "valid") {
      continue;  // the CA remembers an earlier validation
    }
    const std::string host = str(authz.value("identifier", json::object()), "value");
    json chosen;
    for (const auto& ch : authz.value("challenges", json::array())) {
      if (str(ch, "type") == cfg_.challenge) {
        chosen = ch;
      }
    }
    if (chosen.is_null()) {
      out.error = host + ": the CA offers no " + cfg_.challenge + " challenge";
      return out;
    }
    if (!publish(chosen, host, out.error)) {
      return out;
    }
    const HttpResponse go = signed_post(str(chosen, "url"), "{}");
    json done;
    if (go.status == 200) {
      done = poll(url, {"pending"}, out.error);
    } else {
      out.error = "challenge: " + problem_text(go);
    }
    withdraw(chosen, host);
    if (str(done, "status") != "valid") {
      if (out.error.empty()) {
        out.error = host + ": authorization " + str(done, "status");
        for (const auto& ch : done.value("challenges", json::array())) {
          if (ch.contains("error")) {
            out.error += ": " + str(ch["error"], "detail");
          }
        }
      }
      return out;
    }
  }

  // Finalize with a CSR for a fresh key; wait for the certificate.
  out.key = new_p256_key();
  const std::string csr = csr_der(out.key.get(), hosts);
  if (!out.key || csr.empty()) {
    out.error = "cannot build the CSR";
    return out;
  }
  const HttpResponse fin =
      signed_post(str(order, "finalize"), json{{"csr", b64url(csr)}}.dump());
  if (fin.status != 200) {
    out.error = "finalize: " + problem_text(fin);
    out.retry_after = parse_retry_after(fin.header("retry-after"));
    return out;
  }
  order = parse(fin.body);
  if (str(order, "status") != "valid") {
    order = poll(order_url, {"pending", "ready", "processing"}, out.error);
  }
  if (str(order, "status") != "valid") {
    if (out.error.empty()) {
      out.error = "order " + str(order, "status");
    }
    return out;
  }
  const HttpResponse cert = signed_post(str(order, "certificate"), "");
  if (cert.status != 200 || cert.body.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    out.error = "certificate download: " + problem_text(cert);
    return out;
  }
  out.chain_pem = cert.body;
  out.ok = true;
  return out;
}

std::optional<RenewalWindow> AcmeClient::renewal_info(X509* cert) {
  const std::string base = str(directory_, "renewalInfo");
  if (base.empty() || cert == nullptr) {
    return std::nullopt;
  }
  // RFC 9773 4.1: base64url(AKI keyIdentifier) "." base64url(serial DER content octets).
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(cert);
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  if (aki == nullptr || serial == nullptr) {
    return std::nullopt;
  }
  std::string serial_bytes(reinterpret_cast<const char*>(serial->data),
                           static_cast<std::size_t>(serial->length));
  if (!serial_bytes.empty() && (static_cast<unsigned char>(serial_bytes[0]) & 0x80) != 0) {
    serial_bytes.insert(serial_bytes.begin(), '\0');  // DER keeps a positive integer positive
  }
  const std::string id =
      b64url(std::string_view(reinterpret_cast<const char*>(aki->data),
                               static_cast<std::size_t>(aki->length))) +
      "." + b64url(serial_bytes);
  const HttpResponse r = http_.get(base + (base.ends_with("/") ? "" : "/") + id);
  if (r.status != 200) {
    return std::nullopt;
  }
  const json j = parse(r.body);
  const json w = j.value("suggestedWindow", json::object());
  RenewalWindow out;
  out.start = parse_rfc3339(str(w, "start"));
  out.end = parse_rfc3339(str(w, "end"));
  out.retry_after = parse_retry_after(r.header("retry-after"));
  if (out.start == 0 || out.end < out.start) {
    return std::nullopt;
  }
  return out;
}

}  // namespace portcullis::gateway::acme
