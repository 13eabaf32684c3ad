// Http2Session (see http2_session_impl.h): nghttp2 plumbing, stream lifetime and output.
#include "gateway/http/http2_session_impl.h"

namespace portcullis::gateway::http::h2s {


// ---------------------------------------------------------------------------------------------
// Stream (DownstreamSide)

void Stream::on_response_head(Exchange&) noexcept {
  if (closed_ || response_submitted_) {
    return;
  }
  session_.submit_response(*this);
}

void Stream::on_response_body(Exchange&) noexcept {
  if (closed_ || !response_submitted_) {
    return;
  }
  session_.resume(*this);
}

void Stream::on_request_body_consumed(Exchange&, std::size_t n) noexcept {
  if (closed_) {
    return;
  }
  session_.consume(*this, n);
}

void Stream::on_upstream_abort(Exchange&) noexcept {
  if (closed_) {
    return;
  }
  session_.reset_stream(*this, NGHTTP2_INTERNAL_ERROR);
}

// ---------------------------------------------------------------------------------------------
// Http2Session

Http2Session::Http2Session(SessionOwner& owner, const ConnFacts& facts,
                           const SessionLimits& limits) noexcept
    : owner_(owner), scheme_(facts.scheme), limits_(limits) {
  h2::CallbackBuilder<Http2Session> b;
  if (!b.ok()) {
    fatal_ = true;
    return;
  }
  b.on<&Http2Session::on_begin_frame>(nghttp2_session_callbacks_set_on_begin_frame_callback)
      .on<&Http2Session::on_begin_headers>(nghttp2_session_callbacks_set_on_begin_headers_callback)
      .on<&Http2Session::on_header>(nghttp2_session_callbacks_set_on_header_callback)
      .on<&Http2Session::on_invalid_header>(
          nghttp2_session_callbacks_set_on_invalid_header_callback)
      .on<&Http2Session::on_frame_recv>(nghttp2_session_callbacks_set_on_frame_recv_callback)
      .on<&Http2Session::on_data_chunk>(nghttp2_session_callbacks_set_on_data_chunk_recv_callback)
      .on<&Http2Session::on_frame_send>(nghttp2_session_callbacks_set_on_frame_send_callback)
      .on<&Http2Session::on_stream_close>(nghttp2_session_callbacks_set_on_stream_close_callback);
  nghttp2_option* opt = b.option();
  // The window opens only as the upstream consumes request body: this is the backpressure.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_outbound_ack(opt, limits_.h2_max_outbound_control_frames);
  nghttp2_option_set_max_settings(opt, limits_.h2_max_settings);
  // HTTP messaging validation stays on (the default): uppercase names, connection-specific
  // fields and bad pseudo-headers are rejected by nghttp2 itself.

  session_ = b.server(this, &frame_buffer_);
  if (session_ == nullptr) {
    fatal_ = true;
    return;
  }

  const int rv = h2::submit_settings(
      session_.get(),
      {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.h2_max_concurrent_streams},
       {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.h2_stream_window},
       {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, limits_.h2_header_table_size},
       // Advertised above our own limit: a client that honours it still sends a request a
       // little over, and gets our 431 instead of failing on its side without a status.
       {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
        static_cast<std::uint32_t>(
            std::min<std::size_t>(limits_.max_request_headers * 2, 0x7fffffffu))},
       // RFC 8441: WebSockets over HTTP/2 (extended CONNECT, upgrade_relay.h).
       {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1}});
  if (rv != 0) {
    fatal_ = true;
    return;
  }
  if (limits_.h2_connection_window > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE) {
    nghttp2_session_set_local_window_size(
        session_.get(), NGHTTP2_FLAG_NONE, 0,
        static_cast<std::int32_t>(std::min<std::uint32_t>(limits_.h2_connection_window,
                                                          NGHTTP2_MAX_WINDOW_SIZE)));
  }
}

Http2Session::~Http2Session() {
  // Exchanges first: their destructors tell attached upstream sides to let go. Streams are
  // marked closed so that nothing an upstream does meanwhile reaches nghttp2 for them.
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, st] : streams) {
    st->closed_ = true;
  }
  streams.clear();
  graveyard_.clear();
  // session_ goes last (a member): no Stream is left for its callbacks to reach.
}

Stream* Http2Session::stream_of(std::int32_t id) const noexcept {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

bool Http2Session::feed(std::string_view bytes) noexcept {
  reap();
  if (fatal_ || aborted_ || session_ == nullptr) {
    return false;
  }
  if (flood_) {
    fatal(NGHTTP2_ENHANCE_YOUR_CALM);  // the reset budget ran out while sending
    return false;
  }
  const ssize_t rv = h2::receive(session_.get(), bytes);
  if (rv < 0) {
    const bool flood = rv == NGHTTP2_ERR_FLOODED || rv == kErrTooManyContinuations || flood_;
    fatal(flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
  }
  // Safe point: no Exchange callback is on the stack. Streams reset by the client die here, so
  // their upstream side hears on_downstream_abort right away.
  reap();
  return !fatal_;
}

void Http2Session::pull_output(std::string& out, std::size_t max) noexcept {
  if (session_ == nullptr || aborted_ || send_failed_) {
    return;
  }
  const std::size_t before = out.size();
  if (!h2::send_into(session_.get(), out, max)) {
    // Nothing more can be sent: close without a GOAWAY.
    fatal_ = true;
    send_failed_ = true;
    return;
  }
  const std::size_t sent = out.size() - before;
  frame_buffer_dirty_ = frame_buffer_dirty_ || sent != 0;
  // Idle, and nghttp2 returned 0 (sent < max: nothing half-sent left in the frame buffer): its
  // pages need not stay resident (issue #18).
  if (frame_buffer_dirty_ && sent < max && streams_.empty() &&
      nghttp2_session_want_write(session_.get()) == 0) {
    h2::release_frame_buffer(frame_buffer_);
    frame_buffer_dirty_ = false;
  }
}

bool Http2Session::head_pending() const noexcept {
  for (const auto& [id, st] : streams_) {
    if (!st->head_done_) {
      return true;
    }
  }
  return false;
}

bool Http2Session::want_read() const noexcept {
  return session_ != nullptr && !fatal_ && !aborted_ &&
         nghttp2_session_want_read(session_.get()) != 0;
}

bool Http2Session::should_close() const noexcept {
  if (session_ == nullptr || aborted_ || send_failed_) {
    return true;
  }
  if (fatal_) {
    // After a fatal error only the queued GOAWAY is left to flush.
    return nghttp2_session_want_write(session_.get()) == 0;
  }
  return nghttp2_session_want_read(session_.get()) == 0 &&
         nghttp2_session_want_write(session_.get()) == 0;
}

void Http2Session::start_drain() noexcept {
  if (draining_ || session_ == nullptr || fatal_ || aborted_) {
    return;
  }
  draining_ = true;
  // A single GOAWAY naming the last stream we processed: streams up to it complete, later ones
  // are refused by nghttp2 and the client retries them elsewhere.
  nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_.get()), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  owner_.output_ready();
}

void Http2Session::start_shutdown() noexcept {
  if (draining_ || session_ == nullptr || fatal_ || aborted_) {
    return;
  }
  draining_ = true;
  shutdown_ping_ = true;
  // Open WebSockets are closed the WebSocket way (upgrade_relay.h, 1001 "going away").
  for (auto& [id, st] : streams_) {
    if (st->websocket_ && st->ex_ && !st->closed_ && upgrade::websocket_open(*st->ex_) &&
        !st->relay_.going_away(*st->ex_)) {
      reset_stream(*st, NGHTTP2_INTERNAL_ERROR);
    }
  }
  // RFC 9113 §6.8: a GOAWAY with stream id 2^31-1 first; the client stops opening streams, and
  // the ones already on the wire are still accepted. Its answer to the PING that follows
  // proves it saw that GOAWAY; then the final GOAWAY names the last stream processed
  // (on_frame_recv). A client that never answers is bounded by [gateway].drain_timeout.
  nghttp2_submit_shutdown_notice(session_.get());
  nghttp2_submit_ping(session_.get(), NGHTTP2_FLAG_NONE, nullptr);
  owner_.output_ready();
}

void Http2Session::abort() noexcept {
  if (aborted_) {
    return;
  }
  aborted_ = true;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, st] : streams) {
    st->closed_ = true;
    if (st->ex_ && st->started_) {
      if (st->ex_->info().reason == Reason::none) {
        st->ex_->info().reason = Reason::peer_closed;
      }
      owner_.exchange_done(*st->ex_);
    }
  }
  streams.clear();
  graveyard_.clear();
}

void Http2Session::fatal(std::uint32_t goaway_code) noexcept {
  if (fatal_) {
    return;
  }
  fatal_ = true;
  // Counted once per connection: floods (Rapid Reset, MadeYouReset, PING/SETTINGS floods,
  // CONTINUATION floods) as h2_flood, everything else as h2_protocol_error.
  if (!error_counted_) {
    error_counted_ = true;
    owner_.request_rejected(400, goaway_code == NGHTTP2_ENHANCE_YOUR_CALM
                                     ? Reason::h2_flood
                                     : Reason::h2_protocol_error);
  }
  // Queue a GOAWAY if nghttp2 has not done so; pull_output() may still flush it.
  nghttp2_session_terminate_session(session_.get(), goaway_code);
  owner_.output_ready();
}

void Http2Session::reap() noexcept { graveyard_.clear(); }

void Http2Session::submit_response(Stream& st) noexcept {
  if (session_ == nullptr || !st.ex_) {
    return;
  }
  Exchange& ex = *st.ex_;
  if (!ex.request().upgrade.empty()) {
    upgrade::handshake_answer_for_h2(ex.response());  // 101 -> 200 (RFC 8441 5)
  }
  const ResponseHead& r = ex.response();
  h2::NvList nva(r.headers.size());
  nva.add_status(r.status);
  nva.add_fields(r.headers, /*drop_host=*/false);
  if (r.content_length.has_value()) {
    nva.add_content_length(*r.content_length);
  }
  nghttp2_data_provider prov = h2::data_provider<Http2Session, &Http2Session::read_data>(&st);
  const bool body = r.has_body && !ex.response_body().finished();
  st.response_submitted_ = true;
  int rv = nghttp2_submit_response(session_.get(), st.id_, nva.data(), nva.size(),
                                   body ? &prov : nullptr);
  if (rv != 0) {
    reset_stream(st, NGHTTP2_INTERNAL_ERROR);
    return;
  }
  owner_.output_ready();
}

void Http2Session::resume(Stream& st) noexcept {
  if (st.deferred_) {
    st.deferred_ = false;
    nghttp2_session_resume_data(session_.get(), st.id_);
  }
  owner_.output_ready();
}

void Http2Session::consume(Stream& st, std::size_t n) noexcept {
  if (h2::consume(session_.get(), st.id_, st.unconsumed_, n)) {
    owner_.output_ready();
  }
}

void Http2Session::reset_stream(Stream& st, std::uint32_t error_code) noexcept {
  nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, st.id_, error_code);
  owner_.output_ready();
}

void Http2Session::stream_closed(std::int32_t id, std::uint32_t code) noexcept {
  auto it = streams_.find(id);
  if (it == streams_.end()) {
    return;
  }
  std::unique_ptr<Stream> st = std::move(it->second);
  streams_.erase(it);
  st->closed_ = true;
  // The stream is gone but its bytes still count against the connection window.
  h2::release(session_.get(), st->unconsumed_);
  if (st->ex_ && st->started_) {
    Exchange& ex = *st->ex_;
    const bool complete = ex.response_started() && ex.response_body().finished();
    if (!complete && ex.info().reason == Reason::none) {
      // Reset by the client, or by us after a protocol error on the stream.
      ex.info().reason = code == NGHTTP2_INTERNAL_ERROR ? Reason::internal_error
                                                        : Reason::peer_closed;
    }
    owner_.exchange_done(ex);
  } else if (st->rejected_ && !st->reject_reported_) {
    st->reject_reported_ = true;
    ++rejected_;
    owner_.request_rejected(st->reject_status_, st->reject_reason_);
  }
  graveyard_.push_back(std::move(st));
  owner_.output_ready();
}

// ---------------------------------------------------------------------------------------------
// nghttp2 callbacks

int Http2Session::on_begin_frame(const nghttp2_frame_hd* hd) {
  const SessionLimits& l = limits_;
  if (hd->type == NGHTTP2_RST_STREAM && ++client_resets_ > l.h2_max_client_resets) {
    flood_ = true;
    return NGHTTP2_ERR_CALLBACK_FAILURE;  // fatal: feed() answers GOAWAY ENHANCE_YOUR_CALM
  }
  if (hd->type == NGHTTP2_HEADERS) {
    continuations_ = 0;
  } else if (hd->type == NGHTTP2_CONTINUATION && ++continuations_ > l.h2_max_continuations) {
    flood_ = true;
    return NGHTTP2_ERR_CALLBACK_FAILURE;  // fatal: feed() answers GOAWAY ENHANCE_YOUR_CALM
  }
  return 0;
}

int Http2Session::on_begin_headers(const nghttp2_frame* frame) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  auto st = std::make_unique<Stream>(*this, frame->hd.stream_id);
  streams_[frame->hd.stream_id] = std::move(st);
  ++streams_begun_;
  if (limits_.max_requests_per_connection != 0 &&
      streams_begun_ == limits_.max_requests_per_connection && !draining_) {
    if (client_resets_ * 2 >= streams_begun_) {
      // The budget went mostly to streams the client reset itself: Rapid Reset, not a busy
      // client. ENHANCE_YOUR_CALM instead of a graceful GOAWAY.
      flood_ = true;
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    // Request budget spent: finish what is open, then go.
    draining_ = true;
    nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                          NGHTTP2_NO_ERROR, nullptr, 0);
  }
  return 0;
}

int Http2Session::on_header(const nghttp2_frame* frame, std::string_view name,
                            std::string_view value) {
  if (frame->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  Stream* st = stream_of(frame->hd.stream_id);
  if (st == nullptr) {
    return 0;
  }
  if (frame->headers.cat == NGHTTP2_HCAT_HEADERS) {
    trailer(*st, name, value);
  } else if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    header(*st, name, value);
  }
  return 0;
}

int Http2Session::on_invalid_header(const nghttp2_frame* frame, std::string_view,
                                    std::string_view) {
  if (Stream* st = stream_of(frame->hd.stream_id); st != nullptr) {
    if (st->ex_ && st->ex_->info().reason == Reason::none) {
      st->ex_->info().reason = Reason::http_malformed;  // a bad trailer field
    }
    st->rejected_ = true;
    st->reject_status_ = 400;
    st->reject_reason_ = Reason::http_malformed;
  }
  // nghttp2 resets the stream with PROTOCOL_ERROR.
  return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

int Http2Session::on_frame_recv(const nghttp2_frame* frame) {
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      Stream* st = stream_of(frame->hd.stream_id);
      if (st == nullptr) {
        return 0;
      }
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        request_headers_done(*st, end_stream);
      } else if (end_stream && !st->bad_trailers_) {
        request_end(*st);  // trailers end the request
      }
      return 0;
    }
    case NGHTTP2_DATA: {
      Stream* st = stream_of(frame->hd.stream_id);
      if (st != nullptr && end_stream) {
        request_end(*st);
      }
      return 0;
    }
    case NGHTTP2_PING:
      if (shutdown_ping_ && (frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) {
        shutdown_ping_ = false;
        nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(session_.get()),
                              NGHTTP2_NO_ERROR, nullptr, 0);
      }
      return 0;
    default:
      return 0;
  }
}

int Http2Session::on_data_chunk(std::int32_t stream_id, const std::uint8_t* data,
                                std::size_t len) {
  Stream* st = stream_of(stream_id);
  if (st != nullptr && st->discard_) {
    nghttp2_session_consume(session_.get(), stream_id, len);
    st->discarded_ += len;
    if (st->discarded_ > kMaxDiscard && st->discarded_ - len <= kMaxDiscard) {
      nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_NO_ERROR);
    }
    return 0;
  }
  if (st == nullptr || !st->ex_ || st->rejected_) {
    // Nobody will read these bytes: give the window back now.
    nghttp2_session_consume(session_.get(), stream_id, len);
    return 0;
  }
  Exchange& ex = *st->ex_;
  if (!st->websocket_ && ex.response_started() && !ex.has_upstream()) {
    // A local reply (or a refused body): nobody reads the rest; its window goes back now and
    // the stream ends as for an early answer (on_frame_send: drop, then RST_STREAM NO_ERROR).
    ex.info().bytes_in += len;
    nghttp2_session_consume(session_.get(), stream_id, len);
    return 0;
  }
  st->unconsumed_ += len;
  if (st->websocket_) {
    // The client's side of a WebSocket (upgrade_relay.h); what it drops gets its window back.
    const std::uint64_t before = ex.info().bytes_in;
    if (!st->relay_.relay(ex, as_view(data, len))) {
      reset_stream(*st, NGHTTP2_INTERNAL_ERROR);
      return 0;
    }
    const std::size_t taken = static_cast<std::size_t>(ex.info().bytes_in - before);
    if (taken < len) {
      h2::consume(session_.get(), stream_id, st->unconsumed_, len - taken);
    }
    return 0;
  }
  ex.info().bytes_in += len;
  if (BodyLimit{limits_.max_request_body}.over(ex.info().bytes_in)) {
    // Past [limits] max_request_body: the upstream request is reset, never completed.
    h2::consume(session_.get(), stream_id, st->unconsumed_, len);
    ex.refuse_request_body(413, Reason::request_body_too_large, kBodyTooLargeLine);
    return 0;
  }
  ex.request_body().append(as_view(data, len));
  ex.request_body_added();
  return 0;
}

int Http2Session::on_frame_send(const nghttp2_frame* frame) {
  if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR &&
      !error_counted_) {
    // nghttp2 ended the connection itself for a violation it detected (e.g. a stream past
    // the acknowledged SETTINGS_MAX_CONCURRENT_STREAMS): count it once, like fatal() does.
    error_counted_ = true;
    owner_.request_rejected(400, frame->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM
                                          ? Reason::h2_flood
                                          : Reason::h2_protocol_error);
  }
  if (frame->hd.type == NGHTTP2_RST_STREAM) {
    if (++resets_sent_ > limits_.h2_max_server_resets) {
      flood_ = true;  // acted on at the next feed()
    }
    Stream* st = stream_of(frame->hd.stream_id);
    if (st == nullptr) {
      // Refused before a stream object existed (REFUSED_STREAM past the limit, ...).
      ++rejected_;
      if (frame->rst_stream.error_code == NGHTTP2_REFUSED_STREAM) {
        owner_.request_rejected(503, Reason::h2_flood);
      } else {
        owner_.request_rejected(400, Reason::h2_protocol_error);
      }
    } else if (!st->started_ && !st->reject_reported_) {
      st->reject_reported_ = true;
      ++rejected_;
      if (!st->rejected_) {
        // nghttp2 refused it (bad pseudo-headers, connection-specific field, uppercase name).
        st->rejected_ = true;
        st->reject_status_ = frame->rst_stream.error_code == NGHTTP2_REFUSED_STREAM ? 503 : 400;
        st->reject_reason_ = frame->rst_stream.error_code == NGHTTP2_REFUSED_STREAM
                                 ? Reason::h2_flood
                                 : Reason::h2_protocol_error;
      }
      owner_.request_rejected(st->reject_status_, st->reject_reason_);
    }
    return 0;
  }
  if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    // The response is complete while the client is still sending the request: read and drop
    // the rest of it for a while (Stream::discard_), then ask it to stop (RFC 9113 8.1:
    // RST_STREAM NO_ERROR after a complete response).
    if (nghttp2_session_get_stream_remote_close(session_.get(), frame->hd.stream_id) == 0) {
      Stream* st = stream_of(frame->hd.stream_id);
      if (st != nullptr && !st->discard_) {
        st->discard_ = true;
        h2::consume(session_.get(), st->id_, st->unconsumed_, st->unconsumed_);
      } else {
        nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_NO_ERROR);
      }
    }
  }
  return 0;
}

int Http2Session::on_stream_close(std::int32_t stream_id, std::uint32_t code) {
  stream_closed(stream_id, code);
  return 0;
}

ssize_t Http2Session::read_data(void* source, std::uint8_t* buf, std::size_t length,
                                std::uint32_t* data_flags) {
  auto* st = static_cast<Stream*>(source);
  if (st == nullptr || !st->ex_) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  Exchange& ex = *st->ex_;
  const ssize_t n = h2::read_body(ex.response_body(), buf, length, data_flags, st->deferred_);
  if ((*data_flags & NGHTTP2_DATA_FLAG_EOF) != 0 && !ex.response().trailers.empty()) {
    // The upstream's trailers end the stream instead (gRPC status).
    h2::NvList nva(ex.response().trailers.size());
    nva.add_fields(ex.response().trailers, /*drop_host=*/false);
    if (nghttp2_submit_trailer(session_.get(), st->id_, nva.data(), nva.size()) == 0) {
      *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
  }
  if (n > 0) {
    ex.info().bytes_out += static_cast<std::size_t>(n);
    ex.response_body_consumed(static_cast<std::size_t>(n));
  }
  return n;
}


}  // namespace portcullis::gateway::http::h2s

namespace portcullis::gateway::http {


std::unique_ptr<Session> make_http2_session(SessionOwner& owner, const ConnFacts& facts,
                                            const SessionLimits& limits) {
  return std::make_unique<h2s::Http2Session>(owner, facts, limits);
}

}  // namespace portcullis::gateway::http
