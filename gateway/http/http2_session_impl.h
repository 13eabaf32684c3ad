// Http2Session internals, shared by http2_session.cc (nghttp2 plumbing, streams, output) and
// http2_request.cc (request fields, trailers, the start of each exchange). Private to
// gateway/http: everything else uses make_http2_session() (session.h).
//
// Http2Session: the downstream HTTP/2 engine (nghttp2 server session), sans-I/O.
//
// Thread:   one worker loop.
// Owner:    the DownstreamConnection owns the Session; the session owns one Stream per HTTP/2
//           stream, and each Stream owns its Exchange (the Stream is the DownstreamSide).
// Flow:     feed() -> nghttp2_session_mem_recv -> callbacks build RequestHeads and start
//           exchanges; pull_output() -> nghttp2_session_mem_send. Automatic WINDOW_UPDATE is off:
//           request body window opens only when the upstream consumes (backpressure).
// Lifetime: a closed Stream is moved to a graveyard and destroyed at the next feed() (or abort()
//           / destruction), never from inside a callback chain that may involve its Exchange.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/http/body_limit.h"
#include "gateway/http/exchange.h"
#include "gateway/http/message.h"
#include "gateway/http/nghttp2_callbacks.h"
#include "gateway/http/nghttp2_glue.h"
#include "gateway/http/session.h"
#include "gateway/http/upgrade_relay.h"


namespace portcullis::gateway::http::h2s {

// The flood and abuse bounds are [limits] keys (SessionLimits), defaults in config.h:
// - h2_max_outbound_control_frames: queued SETTINGS ACK / PING ACK frames (as in Envoy); a client
//   that sends PINGs and never reads is closed past it.
// - h2_max_settings: entries accepted in one SETTINGS frame.
// - h2_max_continuations: CONTINUATION frames after one HEADERS frame (CVE-2024-28182: an
//   endless header block). Debian's 1.52 backports the library's own limit
//   (NGHTTP2_ERR_TOO_MANY_CONTINUATIONS, also 8); upstream 1.52 has none, so we keep ours too.
// - h2_max_client_resets: Rapid Reset (CVE-2023-44487), RST_STREAM frames a client may send.
// - h2_max_server_resets: MadeYouReset (CVE-2025-8671), resets the gateway itself sends
//   (provoked by malformed frames); nghttp2 1.52 does not bound these, so they are counted in
//   on_frame_send.
// Past either reset budget: GOAWAY ENHANCE_YOUR_CALM.
// RFC 9113 6.5.2: the size of a field is name + value + 32.
constexpr std::size_t kFieldOverhead = 32;
// NGHTTP2_ERR_TOO_MANY_CONTINUATIONS, spelled as a number: not every 1.52 header declares it.
constexpr ssize_t kErrTooManyContinuations = -905;

using h2::as_view;

inline bool has_forbidden_octet(std::string_view v) noexcept {
  return v.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

class Http2Session;

// One HTTP/2 stream. Collects the request head, then owns the Exchange and serves as its
// DownstreamSide. Owned by Http2Session (streams_ while open, graveyard_ after close).
class Stream final : public DownstreamSide {
 public:
  Stream(Http2Session& session, std::int32_t id) noexcept : session_(session), id_(id) {}

  void on_response_head(Exchange& ex) noexcept override;
  void on_response_body(Exchange& ex) noexcept override;
  void on_request_body_consumed(Exchange& ex, std::size_t n) noexcept override;
  void on_upstream_abort(Exchange& ex) noexcept override;
  void on_continue(Exchange& ex) noexcept override;  // http2_request.cc

  Http2Session& session_;
  const std::int32_t id_;
  RequestHead head_;
  std::string host_;
  bool has_host_ = false;
  std::string cookie_;
  bool has_cookie_ = false;
  std::string protocol_;  // :protocol of an extended CONNECT (RFC 8441), "websocket"
  bool websocket_ = false;  // an extended CONNECT for a WebSocket: DATA is the client's stream
  upgrade::ClientRelay relay_;
  std::uint32_t header_count_ = 0;
  std::size_t header_bytes_ = 0;
  // Set when the request was refused before becoming an exchange (status/reason for metrics).
  bool rejected_ = false;
  int reject_status_ = 400;
  Reason reject_reason_ = Reason::h2_protocol_error;
  bool reject_reported_ = false;
  // A refusal answered with a response at the end of the header block (431), not a reset:
  // the client must learn the request was processed and refused, so it does not retry it.
  bool answer_reject_ = false;
  std::string reject_body_;
  std::size_t reject_sent_ = 0;
  bool bad_trailers_ = false;       // the trailer section was malformed: the stream was reset
  bool head_done_ = false;          // the request's header block ended (header_timeout stops)

  std::unique_ptr<Exchange> ex_;
  bool started_ = false;            // owner.start_exchange() was called
  bool response_submitted_ = false;
  bool deferred_ = false;           // the response data provider returned DEFERRED
  bool closed_ = false;
  std::size_t unconsumed_ = 0;      // request body bytes received but not yet consumed
  // The response is complete while the client is still uploading: the rest of the request
  // body is read and dropped (up to kMaxDiscard), so that clients which treat a reset during
  // their upload as a failure (curl 7.88) still see the complete response.
  bool discard_ = false;
  std::size_t discarded_ = 0;
};

class Http2Session final : public Session {
 public:
  Http2Session(SessionOwner& owner, const ConnFacts& facts, const SessionLimits& limits) noexcept;
  ~Http2Session() override;
  Http2Session(const Http2Session&) = delete;
  Http2Session& operator=(const Http2Session&) = delete;

  bool feed(std::string_view bytes) noexcept override;
  void pull_output(std::string& out, std::size_t max) noexcept override;
  bool want_read() const noexcept override;
  bool should_close() const noexcept override;
  bool idle() const noexcept override { return streams_.empty(); }
  bool head_pending() const noexcept override;
  void start_drain() noexcept override;
  void start_shutdown() noexcept override;
  void abort() noexcept override;

  // --- used by Stream ---
  void submit_response(Stream& s) noexcept;
  void submit_continue(Stream& s) noexcept;  // 100 for "expect: 100-continue" (http2_request.cc)
  void resume(Stream& s) noexcept;
  void consume(Stream& s, std::size_t n) noexcept;
  void reset_stream(Stream& s, std::uint32_t error_code) noexcept;
  void notify_output() noexcept { owner_.output_ready(); }
  // A callback threw (h2::callback): nghttp2 fails the session, and feed() / pull_output()
  // close the connection as for a protocol error. Nothing else to record.
  void callback_failed() noexcept {}

 private:
  // nghttp2 callbacks, registered with h2::CallbackBuilder (nghttp2_callbacks.h), which runs
  // each under h2::callback: one exception policy. They may throw.
  int on_begin_frame(const nghttp2_frame_hd* hd);
  int on_begin_headers(const nghttp2_frame* frame);
  int on_header(const nghttp2_frame* frame, std::string_view name, std::string_view value);
  int on_invalid_header(const nghttp2_frame* frame, std::string_view, std::string_view);
  int on_frame_recv(const nghttp2_frame* frame);
  int on_data_chunk(std::int32_t stream_id, const std::uint8_t* data, std::size_t len);
  int on_frame_send(const nghttp2_frame* frame);
  int on_stream_close(std::int32_t stream_id, std::uint32_t code);
  ssize_t read_data(void* source, std::uint8_t* buf, std::size_t length,
                    std::uint32_t* data_flags);
  ssize_t read_reject(void* source, std::uint8_t* buf, std::size_t length,
                      std::uint32_t* data_flags);
  void answer_reject(Stream& st) noexcept;

  Stream* stream_of(std::int32_t id) const noexcept;
  void header(Stream& st, std::string_view name, std::string_view value) noexcept;
  void trailer(Stream& st, std::string_view name, std::string_view value) noexcept;
  void reject(Stream& st, int status, Reason why) noexcept;
  void request_headers_done(Stream& st, bool end_stream) noexcept;
  void request_end(Stream& st) noexcept;
  void stream_closed(std::int32_t id, std::uint32_t code) noexcept;
  void fatal(std::uint32_t goaway_code) noexcept;
  void reap() noexcept;

  SessionOwner& owner_;
  std::string scheme_;  // the only connection fact a request head needs
  SessionLimits limits_;
  // Declared before session_ (destroyed after it): nghttp2 clears it when freeing the buffer.
  h2::FrameBufferTag frame_buffer_;
  bool frame_buffer_dirty_ = false;  // frames were sent since the buffer's pages were released
  h2::SessionPtr session_;
  std::unordered_map<std::int32_t, std::unique_ptr<Stream>> streams_;
  std::vector<std::unique_ptr<Stream>> graveyard_;
  std::uint32_t streams_begun_ = 0;
  std::uint32_t continuations_ = 0;
  bool flood_ = false;
  bool fatal_ = false;
  bool send_failed_ = false;
  bool aborted_ = false;
  bool draining_ = false;
  bool shutdown_ping_ = false;  // the first GOAWAY and its PING are out; the final one waits
  std::uint64_t resets_sent_ = 0;
  std::uint64_t client_resets_ = 0;
  bool error_counted_ = false;           // the connection's failure was counted
  std::uint64_t rejected_ = 0;
};

}  // namespace portcullis::gateway::http::h2s
