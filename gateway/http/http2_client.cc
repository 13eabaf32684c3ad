// Http2Client: the upstream HTTP/2 engine (nghttp2 client session), sans-I/O.
//
// Thread:   one worker loop.
// Owner:    the UpstreamConnection owns the client. The client owns one Stream per request it
//           sent (the UpstreamSide of that Exchange); Exchanges belong to downstream sessions and
//           are only pointed at, until the response completes (detach) or the downstream side
//           lets go (on_downstream_abort).
// Flow:     attach() -> nghttp2_submit_request with a data provider over request_body();
//           responses fill ex.response()/response_body(). Automatic WINDOW_UPDATE is off: the
//           window opens only as the downstream consumes response body (backpressure).
// Lifetime: a Stream object lives until nghttp2 closes the stream (or never sends it), because
//           nghttp2 keeps a pointer to it as the data provider source.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/http/client.h"
#include "gateway/http/exchange.h"
#include "gateway/http/message.h"
#include "gateway/http/nghttp2_callbacks.h"
#include "gateway/http/nghttp2_glue.h"

namespace portcullis::gateway::http {
namespace {

using h2::as_view;

// RFC 9113 6.9.1: no window may exceed 2^31-1.
constexpr std::uint32_t kMaxWindow = NGHTTP2_MAX_WINDOW_SIZE;

class Http2Client;

// One request stream: the UpstreamSide of its Exchange while ex_ is set.
class Stream final : public UpstreamSide {
 public:
  Stream(Http2Client& client, Exchange& ex) noexcept : client_(client), ex_(&ex) {}

  void on_request_body(Exchange& ex) noexcept override;
  void on_response_body_consumed(Exchange& ex, std::size_t n) noexcept override;
  void on_downstream_abort(Exchange& ex) noexcept override;

  Http2Client& client_;
  Exchange* ex_;
  std::int32_t id_ = -1;
  ResponseHead head_;     // being collected
  bool head_done_ = false;      // final (non-1xx) response head delivered
  bool head_request_ = false;   // request method was HEAD
  bool deferred_ = false;       // request data provider returned DEFERRED
  std::size_t unconsumed_ = 0;  // response bytes received but not yet consumed downstream
};

class Http2Client final : public ClientSession {
 public:
  Http2Client(ClientOwner& owner, const Http2ClientLimits& limits) noexcept;
  ~Http2Client() override;
  Http2Client(const Http2Client&) = delete;
  Http2Client& operator=(const Http2Client&) = delete;

  bool feed(std::string_view bytes) noexcept override;
  void pull_output(std::string& out, std::size_t max) noexcept override;
  bool want_read() const noexcept override;
  bool can_take() const noexcept override;
  void attach(Exchange& ex) noexcept override;
  std::size_t active() const noexcept override;
  bool reusable() const noexcept override;
  void peer_closed() noexcept override;
  void abort(int status, Reason why) noexcept override;
  std::optional<Exchange::Clock::time_point> next_deadline() const noexcept override;
  void expire(Exchange::Clock::time_point now) noexcept override;

  // --- used by Stream ---
  void resume(Stream& st) noexcept;
  void consume(Stream& st, std::size_t n) noexcept;
  void cancel(Stream& st) noexcept;
  // A callback threw (h2::callback): nghttp2 fails the session, and feed() / pull_output()
  // fail every exchange with 502 upstream_protocol_error. Nothing else to record.
  void callback_failed() noexcept {}

 private:
  // nghttp2 callbacks, registered with h2::CallbackBuilder (nghttp2_callbacks.h), which runs
  // each under h2::callback: one exception policy. They may throw.
  int on_header(const nghttp2_frame* frame, std::string_view name, std::string_view value);
  int on_frame_recv(const nghttp2_frame* frame);
  int on_data_chunk(std::int32_t stream_id, const std::uint8_t* data, std::size_t len);
  int on_frame_not_send(const nghttp2_frame* frame, int error);
  int on_stream_close(std::int32_t stream_id, std::uint32_t error_code);
  ssize_t read_data(void* source, std::uint8_t* buf, std::size_t length,
                    std::uint32_t* data_flags);

  Stream* stream_of(std::int32_t id) const noexcept;
  void headers_done(Stream& st, bool end_stream) noexcept;
  void response_end(Stream& st) noexcept;
  void give_back_window(Stream& st) noexcept;
  void drop_stream(std::int32_t id, int status, Reason why, bool unprocessed = false) noexcept;
  void fail_all(int status, Reason why) noexcept;

  ClientOwner& owner_;
  h2::SessionPtr session_;
  std::unordered_map<std::int32_t, std::unique_ptr<Stream>> streams_;
  bool goaway_ = false;
  std::int32_t goaway_last_stream_ = 0;  // streams above it were not processed
  bool fatal_ = false;
};

// ---------------------------------------------------------------------------------------------
// Stream (UpstreamSide)

void Stream::on_request_body(Exchange&) noexcept { client_.resume(*this); }

void Stream::on_response_body_consumed(Exchange&, std::size_t n) noexcept {
  client_.consume(*this, n);
}

void Stream::on_downstream_abort(Exchange&) noexcept {
  // The Exchange is being destroyed: drop the pointer first.
  ex_ = nullptr;
  client_.cancel(*this);
}

// ---------------------------------------------------------------------------------------------
// Http2Client

Http2Client::Http2Client(ClientOwner& owner, const Http2ClientLimits& limits) noexcept
    : owner_(owner) {
  h2::CallbackBuilder<Http2Client> b;
  if (!b.ok()) {
    fatal_ = true;
    return;
  }
  b.on<&Http2Client::on_header>(nghttp2_session_callbacks_set_on_header_callback)
      .on<&Http2Client::on_frame_recv>(nghttp2_session_callbacks_set_on_frame_recv_callback)
      .on<&Http2Client::on_data_chunk>(nghttp2_session_callbacks_set_on_data_chunk_recv_callback)
      .on<&Http2Client::on_frame_not_send>(nghttp2_session_callbacks_set_on_frame_not_send_callback)
      .on<&Http2Client::on_stream_close>(nghttp2_session_callbacks_set_on_stream_close_callback);
  nghttp2_option* opt = b.option();
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_outbound_ack(opt, limits.max_outbound_control_frames);
  // Until the server's SETTINGS arrive, assume the RFC 9113 recommended minimum of 100
  // concurrent streams rather than "unlimited": streams past the server's real limit would be
  // refused and surface as 502s.
  nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
  session_ = b.client(this);
  if (session_ == nullptr) {
    fatal_ = true;
    return;
  }
  const std::uint32_t stream_window = std::min(limits.stream_window, kMaxWindow);
  if (h2::submit_settings(session_.get(), {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window},
                                           {NGHTTP2_SETTINGS_ENABLE_PUSH, 0}}) != 0) {
    fatal_ = true;
    return;
  }
  nghttp2_session_set_local_window_size(
      session_.get(), NGHTTP2_FLAG_NONE, 0,
      static_cast<std::int32_t>(std::min(limits.connection_window, kMaxWindow)));
}

Http2Client::~Http2Client() {
  // Normally abort() already ran; never leave an Exchange pointing at a dead Stream.
  fail_all(502, Reason::upstream_reset);
}

Stream* Http2Client::stream_of(std::int32_t id) const noexcept {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

bool Http2Client::feed(std::string_view bytes) noexcept {
  if (fatal_ || session_ == nullptr) {
    return false;
  }
  if (h2::receive(session_.get(), bytes) < 0) {
    fatal_ = true;
    fail_all(502, Reason::upstream_protocol_error);
    return false;
  }
  return true;
}

void Http2Client::pull_output(std::string& out, std::size_t max) noexcept {
  if (session_ == nullptr) {
    return;
  }
  if (!h2::send_into(session_.get(), out, max)) {
    fatal_ = true;
    fail_all(502, Reason::upstream_protocol_error);
  }
}

bool Http2Client::want_read() const noexcept {
  return session_ != nullptr && !fatal_ && nghttp2_session_want_read(session_.get()) != 0;
}

bool Http2Client::can_take() const noexcept {
  if (!reusable()) {
    return false;
  }
  const std::uint32_t max =
      nghttp2_session_get_remote_settings(session_.get(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return streams_.size() < max;
}

bool Http2Client::reusable() const noexcept {
  return session_ != nullptr && !goaway_ && !fatal_ &&
         nghttp2_session_get_next_stream_id(session_.get()) <= 0x7fffffffu;
}

std::size_t Http2Client::active() const noexcept {
  std::size_t n = 0;
  for (const auto& [id, st] : streams_) {
    if (st->ex_ != nullptr) {
      ++n;
    }
  }
  return n;
}

void Http2Client::attach(Exchange& ex) noexcept {
  if (!reusable()) {
    ex.fail(502, Reason::upstream_reset);
    return;
  }
  const RequestHead& r = ex.request();
  h2::NvList nva(r.headers.size());
  nva.add(":method", r.method);
  nva.add(":scheme", "https");
  nva.add(":authority", r.authority);
  nva.add(":path", r.path.empty() ? std::string_view("/") : r.path);
  nva.add_fields(r.headers, /*drop_host=*/true);
  if (r.content_length.has_value() && (r.has_body || *r.content_length == 0)) {
    nva.add_content_length(*r.content_length);
  }
  auto st = std::make_unique<Stream>(*this, ex);
  st->head_request_ = r.method == "HEAD";
  nghttp2_data_provider prov =
      h2::data_provider<Http2Client, &Http2Client::read_data>(st.get());
  const bool body = r.has_body && !ex.request_body().finished();
  const std::int32_t id = nghttp2_submit_request(session_.get(), nullptr, nva.data(), nva.size(),
                                                 body ? &prov : nullptr, st.get());
  if (id < 0) {
    ex.fail(502, Reason::upstream_protocol_error);
    return;
  }
  st->id_ = id;
  ex.attach_upstream(*st);
  streams_[id] = std::move(st);
  // The stream is open upstream: a client waiting on "Expect: 100-continue" may send its body
  // (an HTTP/2 server owes no 100 of its own, RFC 9113 8.1).
  ex.continue_request();
  owner_.client_output_ready();
}

std::optional<Exchange::Clock::time_point> Http2Client::next_deadline() const noexcept {
  std::optional<Exchange::Clock::time_point> first;
  for (const auto& [id, st] : streams_) {
    if (st->ex_ != nullptr && st->ex_->deadline() && (!first || *st->ex_->deadline() < *first)) {
      first = st->ex_->deadline();
    }
  }
  return first;
}

void Http2Client::expire(Exchange::Clock::time_point now) noexcept {
  // Collect first: fail() calls into the downstream side, which may call back into us.
  std::vector<Exchange*> expired;
  for (auto& [id, st] : streams_) {
    Exchange* ex = st->ex_;
    if (ex != nullptr && ex->deadline() && *ex->deadline() <= now) {
      st->ex_ = nullptr;
      ex->detach_upstream();
      cancel(*st);  // RST_STREAM CANCEL: the upstream stops working on it
      expired.push_back(ex);
    }
  }
  for (Exchange* ex : expired) {
    ex->fail(504, Reason::grpc_deadline_exceeded);
  }
}

void Http2Client::peer_closed() noexcept {
  fatal_ = true;
  fail_all(502, Reason::upstream_reset);
}

void Http2Client::abort(int status, Reason why) noexcept {
  fatal_ = true;
  fail_all(status, why);
}

void Http2Client::fail_all(int status, Reason why) noexcept {
  // Collect first: fail() calls into the downstream side, which may call back into us.
  std::vector<Exchange*> failing;
  for (auto& [id, st] : streams_) {
    if (st->ex_ != nullptr) {
      failing.push_back(st->ex_);
      st->ex_ = nullptr;
    }
  }
  for (Exchange* ex : failing) {
    ex->fail(status, why);
  }
}

void Http2Client::resume(Stream& st) noexcept {
  if (st.deferred_ && session_ != nullptr) {
    st.deferred_ = false;
    nghttp2_session_resume_data(session_.get(), st.id_);
    owner_.client_output_ready();
  }
}

void Http2Client::consume(Stream& st, std::size_t n) noexcept {
  if (session_ != nullptr && h2::consume(session_.get(), st.id_, st.unconsumed_, n)) {
    owner_.client_output_ready();
  }
}

void Http2Client::give_back_window(Stream& st) noexcept {
  // Nobody will report these bytes consumed any more; the connection window needs them back.
  h2::release(session_.get(), st.unconsumed_);
}

void Http2Client::cancel(Stream& st) noexcept {
  if (session_ == nullptr) {
    return;
  }
  give_back_window(st);
  nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, st.id_, NGHTTP2_CANCEL);
  owner_.client_output_ready();
}

void Http2Client::drop_stream(std::int32_t id, int status, Reason why,
                              bool unprocessed) noexcept {
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    return;
  }
  std::unique_ptr<Stream> st = std::move(it->second);
  streams_.erase(it);
  give_back_window(*st);
  if (Exchange* ex = std::exchange(st->ex_, nullptr); ex != nullptr) {
    // A request the server never processed and that carried no body is safe to send again
    // (RFC 9113 8.7), once.
    if (unprocessed && !ex->request().has_body && !ex->response_started() &&
        !ex->info().retried) {
      ex->detach_upstream();
      ex->info().retried = true;
      if (owner_.client_retry(*ex)) {
        owner_.client_capacity_available();
        return;
      }
    }
    ex->fail(status, why);
  }
  owner_.client_capacity_available();
}

void Http2Client::headers_done(Stream& st, bool end_stream) noexcept {
  if (st.head_done_ || st.ex_ == nullptr) {
    return;
  }
  if (st.head_.status >= 100 && st.head_.status < 200) {
    // Interim response: wait for the final one.
    st.head_ = ResponseHead{};
    return;
  }
  st.head_done_ = true;
  Exchange& ex = *st.ex_;
  ResponseHead& r = ex.response();
  r = std::move(st.head_);
  r.has_body = !end_stream && !st.head_request_ && r.status != 204 && r.status != 304;
  if (end_stream) {
    // Set before the head goes down so the downstream sees an already finished body.
    ex.response_body().set_eof();
  }
  ex.response_head_ready();
  if (end_stream && st.ex_ != nullptr) {
    response_end(st);
  }
}

void Http2Client::response_end(Stream& st) noexcept {
  Exchange* ex = st.ex_;
  if (ex == nullptr) {
    return;
  }
  ex->response_body().set_eof();
  ex->response_body_added();
  if (st.ex_ == nullptr) {
    return;  // the downstream let go meanwhile
  }
  st.ex_ = nullptr;
  ex->detach_upstream();
  // The tail of the body is buffered in the Exchange now; do not hold the connection window.
  give_back_window(st);
  if (nghttp2_session_get_stream_local_close(session_.get(), st.id_) == 0) {
    // The response is complete but we are still sending the request: stop.
    nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, st.id_, NGHTTP2_CANCEL);
    owner_.client_output_ready();
  }
  owner_.client_capacity_available();
}

// ---------------------------------------------------------------------------------------------
// nghttp2 callbacks

int Http2Client::on_header(const nghttp2_frame* frame, std::string_view name,
                           std::string_view value) {
  if (frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  Stream* st = stream_of(frame->hd.stream_id);
  if (st == nullptr || st->ex_ == nullptr) {
    return 0;  // nobody listening
  }
  if (st->head_done_) {
    // Trailers (gRPC's grpc-status): passed on before the body's eof (response_end).
    if (!h2::is_pseudo(name) && forwardable_trailer(name)) {
      st->ex_->response().trailers.push_back(Header{std::string(name), std::string(value)});
    }
    return 0;
  }
  const std::string_view n = name;
  const std::string_view v = value;
  if (n == ":status") {
    int status = 0;
    st->head_.status = h2::parse_decimal(v, status) ? status : 0;
    return 0;
  }
  if (h2::is_pseudo(n)) {
    return 0;
  }
  if (n == "content-length") {
    std::uint64_t len = 0;
    if (h2::parse_decimal(v, len)) {
      st->head_.content_length = len;
    }
    return 0;
  }
  if (is_hop_by_hop(n)) {
    return 0;
  }
  st->head_.headers.push_back(Header{std::string(n), std::string(v)});
  return 0;
}

int Http2Client::on_frame_recv(const nghttp2_frame* frame) {
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      Stream* st = stream_of(frame->hd.stream_id);
      if (st == nullptr) {
        return 0;
      }
      if (!st->head_done_) {
        headers_done(*st, end_stream);
      } else if (end_stream) {
        response_end(*st);  // trailers end the response
      }
      return 0;
    }
    case NGHTTP2_DATA: {
      Stream* st = stream_of(frame->hd.stream_id);
      if (st != nullptr && end_stream && st->head_done_) {
        response_end(*st);
      }
      return 0;
    }
    case NGHTTP2_GOAWAY:
      goaway_ = true;
      goaway_last_stream_ = frame->goaway.last_stream_id;
      return 0;
    case NGHTTP2_SETTINGS:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
        owner_.client_capacity_available();
      }
      return 0;
    default:
      return 0;
  }
}

int Http2Client::on_data_chunk(std::int32_t stream_id, const std::uint8_t* data,
                               std::size_t len) {
  Stream* st = stream_of(stream_id);
  if (st == nullptr || st->ex_ == nullptr || !st->head_done_) {
    nghttp2_session_consume(session_.get(), stream_id, len);
    return 0;
  }
  st->unconsumed_ += len;
  st->ex_->response_body().append(as_view(data, len));
  st->ex_->response_body_added();
  return 0;
}

int Http2Client::on_frame_not_send(const nghttp2_frame* frame, int) {
  if (frame->hd.type == NGHTTP2_HEADERS) {
    // The request never left (GOAWAY received, stream ids exhausted, canceled while queued).
    drop_stream(frame->hd.stream_id, 502, Reason::upstream_reset, true);
  }
  return 0;
}

int Http2Client::on_stream_close(std::int32_t stream_id, std::uint32_t error_code) {
  // Still attached here means the response did not complete: RST_STREAM or a stream error.
  const bool unprocessed = error_code == NGHTTP2_REFUSED_STREAM ||
                           (goaway_ && stream_id > goaway_last_stream_);
  drop_stream(stream_id, 502, Reason::upstream_reset, unprocessed);
  return 0;
}

ssize_t Http2Client::read_data(void* source, std::uint8_t* buf, std::size_t length,
                               std::uint32_t* data_flags) {
  auto* st = static_cast<Stream*>(source);
  if (st->ex_ == nullptr) {
    // Abandoned; a RST_STREAM is queued for this stream.
    st->deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
    Exchange& ex = *st->ex_;
  const ssize_t n = h2::read_body(ex.request_body(), buf, length, data_flags, st->deferred_);
  if (n > 0) {
    ex.request_body_consumed(static_cast<std::size_t>(n));
  }
  return n;
}

}  // namespace

std::unique_ptr<ClientSession> make_http2_client(ClientOwner& owner,
                                                 const Http2ClientLimits& limits) {
  return std::make_unique<Http2Client>(owner, limits);
}

}  // namespace portcullis::gateway::http
