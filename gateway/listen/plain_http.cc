#include "gateway/listen/plain_http.h"

#include "gateway/http/local_reply.h"
#include "routing/authority.h"
#include "tls/acme_challenges.h"

namespace portcullis::gateway::listen {
namespace {

void reply(http::Exchange& ex, int status, Reason why, std::string body,
           std::string location = {}) noexcept {
  try {
    auto& r = ex.response();
    r = http::ResponseHead{};
    r.status = status;
    r.headers.push_back(http::Header{"content-type", "text/plain"});
    if (!location.empty()) {
      r.headers.push_back(http::Header{"location", std::move(location)});
    }
    r.content_length = body.size();
    r.has_body = ex.request().method != "HEAD";
    if (r.has_body) {
      ex.response_body().append(body);
    }
    ex.response_body().set_eof();
  } catch (...) {
    ex.local_reply(500, Reason::internal_error, "internal error");
    return;
  }
  ex.info().local = true;
  ex.info().reason = why;
  ex.response_head_ready();
  ex.response_body_added();
}

}  // namespace

std::string https_location(std::string_view authority, std::string_view path) {
  const auto a = routing::parse_authority(authority);
  if (!a || a->host.empty()) {
    return {};
  }
  std::string host = a->host;
  if (host.find(':') != std::string::npos) {
    host = "[" + host + "]";  // an IPv6 literal keeps its brackets
  }
  return "https://" + host + (path.empty() || path[0] != '/' ? "/" : "") + std::string(path);
}

void answer_plain_http(http::Exchange& ex, const runtime::Snapshot& snap) noexcept {
  auto& info = ex.info();
  info.authority = ex.request().authority;
  const std::string& path = ex.request().path;
  if (path.starts_with(kAcmeChallengePrefix)) {
    const std::string_view token = std::string_view(path).substr(kAcmeChallengePrefix.size());
    // RFC 8555 8.3: the token is base64url; anything else is no token of ours.
    const bool plain = !token.empty() && token.find_first_not_of(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == token.npos;
    std::optional<std::string> answer;
    if (plain && (ex.request().method == "GET" || ex.request().method == "HEAD")) {
      answer = tls::AcmeChallenges::instance().http(token);
    }
    if (!answer) {
      reply(ex, 404, Reason::no_route, "no such challenge\n");
      return;
    }
    reply(ex, 200, Reason::acme_challenge, *answer);
    return;
  }
  const auto a = routing::parse_authority(ex.request().authority);
  const tls::TenantTls* t = a ? snap.sni.find(a->host) : nullptr;
  if (t == nullptr) {
    const http::LocalReply r = http::no_route_reply();
    http::send(ex, r);
    return;
  }
  if (const auto* tc = snap.tenants.size() > t->tenant ? &snap.tenants[t->tenant] : nullptr) {
    info.tenant = tc->cfg->name;
  }
  std::string location = https_location(ex.request().authority, path);
  reply(ex, 308, Reason::https_redirect, "redirect to " + location + "\n", location);
}

}  // namespace portcullis::gateway::listen
