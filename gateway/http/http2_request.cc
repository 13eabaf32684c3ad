// Http2Session: request fields and trailers of each stream, and the start of its Exchange
// (see http2_session_impl.h).
#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>

#include "gateway/http/http2_session_impl.h"
#include "gateway/http/local_reply.h"

namespace portcullis::gateway::http::h2s {

void Http2Session::reject(Stream& st, int status, Reason why) noexcept {
  if (st.rejected_) {
    return;
  }
  st.rejected_ = true;
  st.reject_status_ = status;
  st.reject_reason_ = why;
  if (status == 431) {
    // Answered once the header block has ended (answer_reject): a 431 response, as on
    // HTTP/1.1. A reset would tell the client the request was not processed (and curl retries
    // REFUSED_STREAM on new connections).
    st.answer_reject_ = true;
    return;
  }
  nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, st.id_, NGHTTP2_PROTOCOL_ERROR);
  owner_.output_ready();
}

void Http2Session::header(Stream& st, std::string_view name, std::string_view value) noexcept {
  if (st.rejected_) {
    return;
  }
  ++st.header_count_;
  st.header_bytes_ += name.size() + value.size() + kFieldOverhead;
  if (st.header_count_ > limits_.max_header_count ||
      st.header_bytes_ > limits_.max_request_headers) {
    reject(st, 431, Reason::headers_too_large);
    return;
  }
  if (has_forbidden_octet(value)) {
    reject(st, 400, Reason::http_malformed);
    return;
  }
  RequestHead& h = st.head_;
  if (!name.empty() && name[0] == ':') {
    // nghttp2 has already checked pseudo-header names, order and duplicates.
    if (name == ":method") {
      h.method.assign(value);
    } else if (name == ":scheme") {
      h.scheme.assign(value);
    } else if (name == ":authority") {
      h.authority.assign(value);
    } else if (name == ":path") {
      h.path.assign(value);
    } else if (name == ":protocol") {
      st.protocol_.assign(value);  // nghttp2 accepts it since we enable extended CONNECT
    }
    return;
  }
  if (name == "host") {
    if (st.has_host_) {
      reject(st, 400, Reason::http_malformed);
      return;
    }
    st.has_host_ = true;
    st.host_.assign(value);
    return;
  }
  if (name == "content-length") {
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || p != value.data() + value.size() ||
        (h.content_length && *h.content_length != n)) {
      reject(st, 400, Reason::http_malformed);
      return;
    }
    h.content_length = n;
    return;
  }
  if (name == "cookie") {
    // RFC 9113 8.2.3: crumbs are joined with "; " before going to a non-HTTP/2 hop.
    if (st.has_cookie_) {
      st.cookie_.append("; ");
    }
    st.has_cookie_ = true;
    st.cookie_.append(value);
    return;
  }
  if (name == "te" && value == "trailers") {
    // RFC 9113 8.2.2: the one TE value HTTP/2 allows (nghttp2 refused any other); gRPC
    // servers require it. Passed on to HTTP/2 upstreams only (NvList::add_fields).
    h.headers.push_back(Header{std::string(name), std::string(value)});
    return;
  }
  if (name == "expect" && iequals_ascii(value, "100-continue")) {
    // curl sends it over HTTP/2 too and waits for a 100 HEADERS frame (RFC 9113 8.1) before
    // its upload: on_continue sends one once the upstream takes the request.
    h.expect_continue = true;
    return;
  }
  if (is_hop_by_hop(name) || is_owned_field_alias(name)) {
    return;
  }
  if (h.headers.capacity() == 0) {
    // One allocation for a typical request and the forwarding fields added later (the vector
    // grew four times per request before).
    h.headers.reserve(12);
  }
  h.headers.push_back(Header{std::string(name), std::string(value)});
}

void Stream::on_continue(Exchange&) noexcept {
  if (!closed_ && !response_submitted_) {
    session_.submit_continue(*this);
  }
}

void Http2Session::submit_continue(Stream& st) noexcept {
  if (session_ == nullptr || !st.ex_ || st.ex_->request_body().eof()) {
    return;
  }
  h2::NvList nva(0);
  nva.add_status(100);
  // An interim response: a HEADERS frame without END_STREAM; the final one follows.
  if (nghttp2_submit_headers(session_.get(), NGHTTP2_FLAG_NONE, st.id_, nullptr, nva.data(),
                             nva.size(), nullptr) == 0) {
    owner_.output_ready();
  }
}

void Http2Session::trailer(Stream& st, std::string_view name, std::string_view value) noexcept {
  if (st.rejected_ || st.bad_trailers_ || !st.ex_) {
    return;
  }
  st.header_bytes_ += name.size() + value.size() + kFieldOverhead;
  // RFC 9113 8.1: a trailer section with a pseudo-header, a connection-specific field or a
  // forbidden octet is malformed: stream error PROTOCOL_ERROR, and the upstream never sees the
  // request complete.
  if ((!name.empty() && name[0] == ':') || has_forbidden_octet(name) ||
      has_forbidden_octet(value) || name == "transfer-encoding" || is_hop_by_hop(name) ||
      st.header_bytes_ > limits_.max_request_headers) {
    st.bad_trailers_ = true;
    if (st.ex_->info().reason == Reason::none) {
      st.ex_->info().reason = Reason::http_malformed;
    }
    reset_stream(st, NGHTTP2_PROTOCOL_ERROR);
    return;
  }
  if (forwardable_trailer(name)) {
    try {
      st.ex_->request().trailers.push_back(Header{std::string(name), std::string(value)});
    } catch (...) {
      st.bad_trailers_ = true;
      reset_stream(st, NGHTTP2_INTERNAL_ERROR);
    }
  }
}

void Http2Session::request_headers_done(Stream& st, bool end_stream) noexcept {
  st.head_done_ = true;
  if (st.rejected_ && st.answer_reject_ && !st.response_submitted_) {
    answer_reject(st);
    return;
  }
  if (st.rejected_ || st.ex_) {
    return;
  }
  RequestHead& h = st.head_;
  if (st.has_host_) {
    if (h.authority.empty()) {
      h.authority = st.host_;
    } else if (!iequals_ascii(h.authority, st.host_)) {
      reject(st, 400, Reason::misdirected_host);
      return;
    }
  }
  if (st.has_cookie_) {
    h.headers.push_back(Header{"cookie", std::move(st.cookie_)});
  }
  if (h.scheme.empty()) {
    h.scheme = scheme_;
  }
  h.has_body = !end_stream;
  // RFC 8441: an extended CONNECT for a WebSocket becomes the HTTP/1.1 handshake upstream.
  const bool websocket = !st.protocol_.empty() && h.method == "CONNECT" &&
                         iequals_ascii(st.protocol_, upgrade::kWebSocket) && !end_stream;
  if (websocket) {
    upgrade::extended_connect_to_handshake(h);
    st.websocket_ = true;
  }
  st.ex_ = std::make_unique<Exchange>(st);
  st.ex_->request() = std::move(h);
  if (end_stream) {
    st.ex_->request_body().set_eof();
  }
  st.started_ = true;
  if (!st.protocol_.empty() && !websocket) {
    // Another protocol (or a CONNECT that ended its stream): nothing here speaks it.
    st.ex_->local_reply(501, Reason::upgrade_refused, "upgrade not supported");
    return;
  }
  if (BodyLimit{limits_.max_request_body}.refuses(st.ex_->request().content_length)) {
    send(*st.ex_, body_too_large_reply());  // before any upstream: no byte forwarded
    return;
  }
  owner_.start_exchange(*st.ex_);
}

void Http2Session::answer_reject(Stream& st) noexcept {
  st.response_submitted_ = true;
  st.reject_body_ = "request headers too large\n";
  h2::NvList nva(2);
  nva.add_status(st.reject_status_);
  nva.add("content-type", "text/plain");
  nva.add_content_length(st.reject_body_.size());
  nghttp2_data_provider prov = h2::data_provider<Http2Session, &Http2Session::read_reject>(&st);
  if (nghttp2_submit_response(session_.get(), st.id_, nva.data(), nva.size(), &prov) != 0) {
    nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, st.id_, NGHTTP2_INTERNAL_ERROR);
  }
  // Reported as rejected once, when the stream closes (or is reset after the answer).
  owner_.output_ready();
}

ssize_t Http2Session::read_reject(void* source, std::uint8_t* buf, std::size_t length,
                                  std::uint32_t* data_flags) {
  auto* st = static_cast<Stream*>(source);
  const std::size_t n = std::min(length, st->reject_body_.size() - st->reject_sent_);
  std::copy_n(st->reject_body_.data() + st->reject_sent_, n, buf);
  st->reject_sent_ += n;
  if (st->reject_sent_ == st->reject_body_.size()) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return static_cast<ssize_t>(n);
}

void Http2Session::request_end(Stream& st) noexcept {
  if (!st.ex_ || st.closed_) {
    return;
  }
  st.ex_->request_body().set_eof();
  st.ex_->request_body_added();
}


}  // namespace portcullis::gateway::http::h2s
