// Exchange and BodyBuffer (see exchange.h).
#include "gateway/http/exchange.h"

#include "gateway/http/grpc_timeout.h"

#include <string>
#include <string_view>
#include <utility>

namespace portcullis::gateway::http {

void BodyBuffer::append(std::string_view bytes) {
  if (bytes.empty()) {
    return;
  }
  if (head_ == data_.size()) {
    // Everything was consumed: start over without copying.
    data_.clear();
    head_ = 0;
  }
  data_.append(bytes);
}

void BodyBuffer::consume(std::size_t n) noexcept {
  if (n >= size()) {
    data_.clear();
    head_ = 0;
    return;
  }
  head_ += n;
  // Compact only once the dead prefix is more than half of the string: amortized O(1) per byte,
  // no memmove on every consume.
  if (head_ > data_.size() / 2) {
    data_.erase(0, head_);
    head_ = 0;
  }
}

Exchange::~Exchange() {
  if (up_ != nullptr) {
    UpstreamSide* up = std::exchange(up_, nullptr);
    up->on_downstream_abort(*this);
  }
}

void Exchange::request_body_added() noexcept {
  if (up_ != nullptr) {
    up_->on_request_body(*this);
  }
}

void Exchange::response_body_consumed(std::size_t n) noexcept {
  if (up_ != nullptr) {
    up_->on_response_body_consumed(*this, n);
  }
}

void Exchange::response_head_ready() noexcept {
  response_started_ = true;
  down_->on_response_head(*this);
}

void Exchange::response_body_added() noexcept { down_->on_response_body(*this); }

void Exchange::request_body_consumed(std::size_t n) noexcept {
  down_->on_request_body_consumed(*this, n);
}

void Exchange::continue_request() noexcept {
  if (!request_.expect_continue || continue_sent_ || response_started_) {
    return;
  }
  continue_sent_ = true;
  down_->on_continue(*this);
}

void Exchange::apply_grpc_timeout(Clock::time_point now) noexcept {
  try {
    if (!std::exchange(deadline_checked_, true) && is_grpc_request(request_)) {
      const std::string* v = find_header(request_.headers, "grpc-timeout");
      // A malformed value is ignored and passed on as sent (Envoy does the same).
      if (const auto d = v != nullptr ? parse_grpc_timeout(*v) : std::nullopt) {
        deadline_ = info_.start + std::chrono::duration_cast<Clock::duration>(*d);
      }
    }
    if (!deadline_) {
      return;
    }
    // The next hop gets what is left, not the client's whole budget.
    for (Header& h : request_.headers) {
      if (h.name == "grpc-timeout") {
        h.value = format_grpc_timeout(*deadline_ - now);
      }
    }
  } catch (...) {
    // Out of memory: the header goes on as it was; the deadline (if set) still holds.
  }
}

namespace {

std::string_view fail_line(Reason why) noexcept {
  switch (why) {
    case Reason::upstream_connect_failed: return "upstream connect failed";
    case Reason::upstream_tls_failed: return "upstream TLS or identity check failed";
    case Reason::upstream_identity_mismatch: return "upstream TLS or identity check failed";
    case Reason::upstream_protocol_error: return "upstream protocol error";
    case Reason::upstream_reset: return "upstream connection reset";
    case Reason::no_healthy_endpoint: return "no healthy upstream";
    case Reason::upstream_timeout: return "upstream timeout";
    case Reason::grpc_deadline_exceeded: return "deadline exceeded";
    case Reason::upstream_connect_timeout: return "upstream connect timeout";
    case Reason::upstream_resolve_failed: return "upstream name did not resolve";
    case Reason::upstream_overflow: return "upstream overloaded";
    case Reason::request_body_timeout: return "request body timeout";
    case Reason::no_route: return "no route";
    case Reason::misdirected_host: return "misdirected request";
    case Reason::egress_denied: return "egress denied";
    case Reason::draining: return "server draining";
    default: return "gateway error";
  }
}

// gRPC status codes (grpc/doc/statuscodes.md) for a gateway-made answer with HTTP `status`.
int grpc_code(int status, Reason why) noexcept {
  if (why == Reason::upstream_timeout || why == Reason::upstream_connect_timeout ||
      why == Reason::grpc_deadline_exceeded ||
      status == 504 || status == 408) {
    return 4;  // DEADLINE_EXCEEDED
  }
  switch (status) {
    case 401: return 16;  // UNAUTHENTICATED
    case 403: case 421: return 7;  // PERMISSION_DENIED
    case 404: return 12;  // UNIMPLEMENTED
    case 413: case 429: case 431: return 8;  // RESOURCE_EXHAUSTED
    case 502: case 503: return 14;  // UNAVAILABLE
    default: return status >= 500 ? 14 : 13;  // UNAVAILABLE, INTERNAL
  }
}

// grpc-message is percent-encoded (PROTOCOL-HTTP2.md): everything outside 0x20-0x7e and '%'.
std::string grpc_message(std::string_view line) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : line) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e || c == '%') {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

bool is_grpc_request(const RequestHead& r) noexcept {
  const std::string* ct = find_header(r.headers, "content-type");
  return ct != nullptr && ct->rfind("application/grpc", 0) == 0;
}

void Exchange::fail(int status, Reason why) noexcept {
  up_ = nullptr;
  info_.reason = why;
  if (!response_started_) {
    local_reply(status, why, fail_line(why));
  } else if (why == Reason::grpc_deadline_exceeded && is_grpc_request(request_) &&
             !response_body_.eof()) {
    // A gRPC response already under way ends with the deadline's status in its trailers
    // rather than a reset, so the client reads DEADLINE_EXCEEDED and not CANCELLED.
    try {
      response_.trailers.clear();
      response_.trailers.push_back(Header{"grpc-status", "4"});
      response_.trailers.push_back(Header{"grpc-message", "deadline exceeded"});
    } catch (...) {
      down_->on_upstream_abort(*this);
      return;
    }
    response_body_.set_eof();
    response_body_added();
  } else {
    down_->on_upstream_abort(*this);
  }
}

void Exchange::refuse_request_body(int status, Reason why, std::string_view body_line) noexcept {
  if (up_ != nullptr) {
    UpstreamSide* up = std::exchange(up_, nullptr);
    up->on_downstream_abort(*this);
  }
  info_.reason = why;
  if (const std::size_t n = request_body_.size(); n > 0) {
    request_body_.consume(n);
    request_body_consumed(n);  // the client's window / reads reopen: the rest is dropped
  }
  if (!response_started_) {
    local_reply(status, why, body_line);
  } else {
    down_->on_upstream_abort(*this);
  }
}

void Exchange::local_reply(int status, Reason why, std::string_view body_line) noexcept {
  local_reply(status, why, body_line, 0);
}

void Exchange::local_reply(int status, Reason why, std::string_view body_line,
                           std::uint32_t retry_after_seconds) noexcept {
  try {
    response_ = ResponseHead{};
    if (is_grpc_request(request_)) {
      // A gRPC client reads errors from grpc-status, not from the HTTP status: a
      // Trailers-Only response (one HEADERS frame ending the stream).
      response_.status = 200;
      response_.headers.push_back(Header{"content-type", "application/grpc"});
      response_.headers.push_back(Header{"grpc-status", std::to_string(grpc_code(status, why))});
      response_.headers.push_back(Header{"grpc-message", grpc_message(body_line)});
      response_.has_body = false;
      response_body_ = BodyBuffer{};
      response_body_.set_eof();
      info_.local = true;
      info_.reason = why;
      response_head_ready();
      response_body_added();
      return;
    }
    response_.status = status;
    response_.headers.push_back(Header{"content-type", "text/plain"});
    if (retry_after_seconds > 0) {
      response_.headers.push_back(Header{"retry-after", std::to_string(retry_after_seconds)});
    }
    std::string body(body_line);
    body.push_back('\n');
    response_.content_length = body.size();
    response_.has_body = true;
    response_body_ = BodyBuffer{};
    response_body_.append(body);
    response_body_.set_eof();
  } catch (...) {
    // Out of memory: send an empty body rather than throw through a noexcept path.
    response_.content_length = 0;
    response_body_ = BodyBuffer{};
    response_body_.set_eof();
  }
  info_.local = true;
  info_.reason = why;
  response_head_ready();
  response_body_added();
}

}  // namespace portcullis::gateway::http
