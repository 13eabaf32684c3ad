#include "gateway/http/local_reply.h"

#include "gateway/http/body_limit.h"
#include "gateway/http/exchange.h"

namespace portcullis::gateway::http {
namespace {

std::string substitute(std::string text, std::string_view key, std::string_view value) {
  for (auto pos = text.find(key); pos != std::string::npos;
       pos = text.find(key, pos + value.size())) {
    text.replace(pos, key.size(), value);
  }
  return text;
}

std::string_view status_text(int status) noexcept {
  switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

}  // namespace

LocalReply misdirected_reply() {
  return {421, Reason::misdirected_host,
          "misdirected request: host is not served on this connection", true};
}

LocalReply no_route_reply() { return {404, Reason::no_route, "no route for this path", true}; }

LocalReply overloaded_reply() {
  return {503, Reason::memory_budget, "overloaded: try again later", true};
}

LocalReply rate_limited_reply(std::uint32_t retry_after) {
  return {429, Reason::rate_limited, "rate limited: retry later", true, retry_after};
}

LocalReply body_too_large_reply() {
  return {413, Reason::request_body_too_large, std::string(kBodyTooLargeLine), true};
}

LocalReply egress_denied_reply(int status, Reason why, Reason audit_reason) {
  return {status, why, "egress denied: " + std::string(to_string(audit_reason)), true};
}

LocalReply direct_reply(int status, std::string_view body_template,
                        std::string_view client_identity, std::string_view tenant) {
  std::string body = substitute(std::string(body_template), "{client_identity}", client_identity);
  body = substitute(std::move(body), "{tenant}", tenant);
  if (!body.empty() && body.back() == '\n') {
    body.pop_back();
  }
  return {status, Reason::none, std::move(body), false};
}

std::string egress_tls_failure_line(Reason why) {
  return "egress TLS failure: " + std::string(to_string(why));
}

void send(Exchange& ex, const LocalReply& r) noexcept {
  if (r.retry_after > 0) {
    ex.local_reply(r.status, r.why, r.body, r.retry_after);
  } else {
    ex.local_reply(r.status, r.why, r.body);
  }
  ex.info().local = r.local;
}

std::string http1_text(const LocalReply& r) {
  const std::string body = r.body + "\n";
  return "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(status_text(r.status)) +
         "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace portcullis::gateway::http
