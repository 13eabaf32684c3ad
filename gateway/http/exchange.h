// Exchange: one request and its response, between a downstream session and an upstream client.
//
// Thread:   one worker loop; nothing here is shared across threads.
// Owner:    the downstream session (Http1Session keeps its current one, Http2Session one per
//           stream). The upstream side holds a plain pointer and is told when it must let go.
// Flow:     the downstream side fills request()/request_body(); the upstream side fills
//           response()/response_body(). Each side tells the other through the small interfaces
//           below. Bodies are bounded by convention: a producer stops reading its socket (H1) or
//           stops acknowledging window (H2) while the buffer holds >= kBodyHighWatermark bytes,
//           and resumes when the consumer reports it took bytes (on_*_consumed).
// Reentrancy: no callback below may destroy the Exchange synchronously; the owner destroys it
//           from its own event flow. Callbacks may call back into the Exchange.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/http/message.h"
#include "gateway/observe/reason.h"

namespace portcullis::gateway::http {

inline constexpr std::size_t kBodyHighWatermark = 64 * 1024;

// A byte FIFO plus an end-of-stream flag. Append copies; consume drops from the front.
class BodyBuffer {
 public:
  void append(std::string_view bytes);
  std::string_view peek() const noexcept { return std::string_view(data_).substr(head_); }
  void consume(std::size_t n) noexcept;
  std::size_t size() const noexcept { return data_.size() - head_; }
  bool empty() const noexcept { return size() == 0; }
  bool over_high() const noexcept { return size() >= kBodyHighWatermark; }
  void set_eof() noexcept { eof_ = true; }
  bool eof() const noexcept { return eof_; }
  // True once eof was set and every byte was consumed.
  bool finished() const noexcept { return eof_ && empty(); }

 private:
  std::string data_;
  std::size_t head_ = 0;
  bool eof_ = false;
};

class Exchange;

// Implemented by the downstream session (per request / per stream).
class DownstreamSide {
 public:
  virtual ~DownstreamSide() = default;
  // response() is set (by the upstream or by local_reply()). Body bytes may follow.
  virtual void on_response_head(Exchange& ex) noexcept = 0;
  // New bytes and/or eof in response_body().
  virtual void on_response_body(Exchange& ex) noexcept = 0;
  // The upstream side took n bytes from request_body(): reading the client may resume.
  virtual void on_request_body_consumed(Exchange& ex, std::size_t n) noexcept = 0;
  // The upstream failed after the response head was delivered: reset the stream (H2) or close
  // the connection without completing the message (H1).
  virtual void on_upstream_abort(Exchange& ex) noexcept = 0;
  // The client asked for "100 Continue" (request().expect_continue) and the upstream side is
  // ready for the body: send the interim response now, unless a final one already started.
  virtual void on_continue(Exchange&) noexcept {}
};

// Implemented by the upstream client (per request / per stream).
class UpstreamSide {
 public:
  virtual ~UpstreamSide() = default;
  // New bytes and/or eof in request_body().
  virtual void on_request_body(Exchange& ex) noexcept = 0;
  // The downstream side took n bytes from response_body(): reading the upstream may resume.
  virtual void on_response_body_consumed(Exchange& ex, std::size_t n) noexcept = 0;
  // The downstream side is going away (client reset or closed). Drop every pointer to ex now;
  // abandon the request (H2: RST_STREAM CANCEL; H1: close unless the response was complete).
  virtual void on_downstream_abort(Exchange& ex) noexcept = 0;
};

// True when the request's content-type is application/grpc (or +proto, +json, ...): errors the
// gateway makes for it are answered the gRPC way (HTTP 200, grpc-status, grpc-message).
bool is_grpc_request(const RequestHead& r) noexcept;

class Exchange {
 public:
  explicit Exchange(DownstreamSide& down) noexcept : down_(&down) {}
  ~Exchange();  // tells an attached upstream side on_downstream_abort()
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  RequestHead& request() noexcept { return request_; }
  BodyBuffer& request_body() noexcept { return request_body_; }
  ResponseHead& response() noexcept { return response_; }
  BodyBuffer& response_body() noexcept { return response_body_; }
  bool response_started() const noexcept { return response_started_; }

  // --- called by the downstream side ---
  void request_body_added() noexcept;                 // -> upstream on_request_body
  void response_body_consumed(std::size_t n) noexcept;  // -> upstream on_response_body_consumed

  // --- called by the upstream side ---
  void attach_upstream(UpstreamSide& up) noexcept { up_ = &up; }
  void detach_upstream() noexcept { up_ = nullptr; }
  bool has_upstream() const noexcept { return up_ != nullptr; }
  void response_head_ready() noexcept;                // response() filled -> downstream
  void response_body_added() noexcept;                // -> downstream on_response_body
  void request_body_consumed(std::size_t n) noexcept;  // -> downstream on_request_body_consumed
  // The upstream is ready for the request body: a client waiting on "Expect: 100-continue"
  // gets its 100 (once; nothing when it did not ask or a final response started).
  void continue_request() noexcept;
  // The upstream failed. Before the response head: a local reply with `status`. After: abort.
  // Detaches the upstream side.
  void fail(int status, Reason why) noexcept;

  // A complete one-line response generated by the gateway (404, 421, 502, ...).
  void local_reply(int status, Reason why, std::string_view body_line) noexcept;
  // The request body went over a limit after the request started: the upstream side lets go
  // of it (it never sees the request complete), buffered body bytes are dropped, and the
  // client gets `status` if no response started, else a reset (H2) or a cut (H1).
  void refuse_request_body(int status, Reason why, std::string_view body_line) noexcept;
  // The same with a Retry-After header (429, rate limits).
  void local_reply(int status, Reason why, std::string_view body_line,
                   std::uint32_t retry_after_seconds) noexcept;

  // gRPC: the point past which the upstream's answer is no longer wanted (grpc-timeout from
  // the request's arrival, grpc_timeout.h). Set by the upstream side when it takes the request.
  using Clock = std::chrono::steady_clock;
  const std::optional<Clock::time_point>& deadline() const noexcept { return deadline_; }
  // Sets deadline() from a valid grpc-timeout of a gRPC request (parsed once; a malformed
  // value is ignored, as Envoy does) and rewrites the header to the time left at `now`, for
  // the next hop. Called again just before the request is sent.
  void apply_grpc_timeout(Clock::time_point now) noexcept;

  // Facts for the access log and metrics, filled along the way.
  struct Info {
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    std::string tenant;
    std::string authority;          // as the client sent it (the upstream may see another)
    std::string route;
    std::string cluster;
    std::string upstream;           // "ip:port"
    std::string upstream_identity;  // verified SPIFFE ID or DNS name
    std::string request_id;
    std::uint64_t bytes_in = 0;     // request body bytes from the client
    std::uint64_t bytes_out = 0;    // response body bytes to the client
    Reason reason = Reason::none;
    bool local = false;             // response generated by the gateway
    bool retried = false;           // sent again after an upstream refused it unprocessed
  };
  Info& info() noexcept { return info_; }

 private:
  DownstreamSide* down_;
  UpstreamSide* up_ = nullptr;
  RequestHead request_;
  ResponseHead response_;
  BodyBuffer request_body_;
  BodyBuffer response_body_;
  bool response_started_ = false;
  bool continue_sent_ = false;
  bool deadline_checked_ = false;
  std::optional<Clock::time_point> deadline_;
  Info info_;
};

}  // namespace portcullis::gateway::http
