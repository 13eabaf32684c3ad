// Session: a downstream HTTP protocol engine (Http1Session or Http2Session), sans-I/O.
//
// Thread:   one worker loop.
// Owner:    the DownstreamConnection, which feeds it the plaintext that TLS produced and pulls the
//           plaintext it must send. The session owns its Exchanges and destroys them.
// Contract: the session never touches a socket or TLS. It asks its owner for the rest:
//           routing a new request (start_exchange) and "I have output" (output_ready).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/http/exchange.h"
#include "gateway/observe/reason.h"

namespace portcullis::gateway::http {

// Facts about the downstream connection a session needs for requests and logs.
struct ConnFacts {
  std::string client_ip;     // after PROXY protocol
  std::uint16_t client_port = 0;
  std::string sni;
  std::string tls_version;   // "TLSv1.3"
  std::string alpn;          // "h2" | "http/1.1"
  std::string listener;
  std::string scheme = "https";
  std::string source_identity;  // egress listeners: the workload's SPIFFE ID / unauthenticated
};

// Limits a session enforces (copied from config::Limits by the owner).
struct SessionLimits {
  std::size_t max_request_headers = 64 * 1024;
  std::uint32_t max_header_count = 100;
  std::uint32_t max_requests_per_connection = 1000;
  std::uint32_t h2_max_concurrent_streams = 100;
  std::uint32_t h2_stream_window = 64 * 1024;
  std::uint32_t h2_connection_window = 1024 * 1024;
  std::uint32_t h2_header_table_size = 4096;
  std::uint32_t h2_max_continuations = 8;
  std::uint32_t h2_max_settings = 32;
  std::uint32_t h2_max_outbound_control_frames = 1000;
  std::uint32_t h2_max_client_resets = 1000;
  std::uint32_t h2_max_server_resets = 1000;
  std::uint64_t max_request_body = 0;  // bytes; 0 = no limit (body_limit.h)
};

class SessionOwner {
 public:
  virtual ~SessionOwner() = default;
  // A request head is complete and valid: route it. The owner either attaches an upstream side
  // (now or later) or calls ex.local_reply(). Called at most once per Exchange.
  virtual void start_exchange(Exchange& ex) noexcept = 0;
  // An exchange finished (response fully written or stream closed): write the access log line.
  virtual void exchange_done(Exchange& ex) noexcept = 0;
  // The session has new output, or its want_read()/should_close()/idle() may have changed; the
  // owner calls pull_output() and re-checks them soon (maybe later in this turn). The owner also
  // re-checks them after every feed().
  virtual void output_ready() noexcept = 0;
  // A request was refused before it became an exchange (malformed, too large...). For metrics
  // and logs; the session already queued the error response or reset.
  virtual void request_rejected(int status, Reason why) noexcept = 0;
};

class Session {
 public:
  virtual ~Session() = default;
  // Plaintext from the client. Returns false when the connection must close once pending output
  // is flushed (protocol error, Connection: close...).
  virtual bool feed(std::string_view bytes) noexcept = 0;
  // Appends pending output to `out`, at most about `max` bytes (more only for a single frame).
  virtual void pull_output(std::string& out, std::size_t max) noexcept = 0;
  // False while the session cannot take more input (backpressure; pipelined requests waiting).
  virtual bool want_read() const noexcept = 0;
  // True when nothing more will be sent or received: close after flushing output.
  virtual bool should_close() const noexcept = 0;
  // True when no request is in flight (drain may close now).
  virtual bool idle() const noexcept = 0;
  // HTTP/2 only: true while a stream's request head has begun (HEADERS) and not ended, so the
  // connection's header_timeout runs. Control frames (SETTINGS, PING, WINDOW_UPDATE) begin no
  // head: an idle HTTP/2 connection is bounded by idle_timeout, as browsers and gRPC expect.
  virtual bool head_pending() const noexcept { return false; }
  // True while the answer is out and the rest of an upload is only read and dropped
  // (body_limit.h): the idle timeout may close the connection.
  virtual bool lingering() const noexcept { return false; }
  // Graceful shutdown: H2 GOAWAY; H1 "Connection: close" on the next response, or close if idle.
  virtual void start_drain() noexcept = 0;
  // The process is shutting down: as start_drain, but HTTP/2 sends the two-step GOAWAY of
  // RFC 9113 §6.8, so streams the client sent before it saw the first GOAWAY are served.
  virtual void start_shutdown() noexcept { start_drain(); }
  // The connection is gone (peer closed, error): abort every exchange. No output expected.
  virtual void abort() noexcept = 0;
};

std::unique_ptr<Session> make_http1_session(SessionOwner& owner, const ConnFacts& facts,
                                            const SessionLimits& limits);
std::unique_ptr<Session> make_http2_session(SessionOwner& owner, const ConnFacts& facts,
                                            const SessionLimits& limits);

}  // namespace portcullis::gateway::http
