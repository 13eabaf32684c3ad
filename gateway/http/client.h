// ClientSession: an upstream HTTP protocol engine (Http1Client or Http2Client), sans-I/O.
//
// Thread:   one worker loop.
// Owner:    the UpstreamConnection (TCP + TLS client), which feeds it plaintext from the upstream
//           and pulls the plaintext to send. Exchanges are owned by downstream sessions: the
//           client only points at them, and lets go in UpstreamSide::on_downstream_abort or once
//           the response is complete (Exchange::detach_upstream).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/http/exchange.h"
#include "gateway/observe/reason.h"

namespace portcullis::gateway::http {

class ClientOwner {
 public:
  virtual ~ClientOwner() = default;
  // New output to send; the owner calls pull_output() soon.
  virtual void client_output_ready() noexcept = 0;
  // The client can take another exchange (a request finished, or H2 SETTINGS raised the limit).
  virtual void client_capacity_available() noexcept = 0;
  // The upstream never processed `ex` (HTTP/2 REFUSED_STREAM, or a stream past a GOAWAY's last
  // stream id) and it has no request body: send it again elsewhere. The client has already let
  // go of it. False: the owner could not, and the client fails it with 502.
  virtual bool client_retry(Exchange& ex) noexcept = 0;
};

class ClientSession {
 public:
  virtual ~ClientSession() = default;
  // Plaintext from the upstream. False: protocol error; the owner closes the connection (the
  // client has already failed its exchanges with 502 / aborts).
  virtual bool feed(std::string_view bytes) noexcept = 0;
  virtual void pull_output(std::string& out, std::size_t max) noexcept = 0;
  virtual bool want_read() const noexcept = 0;
  // Room for another exchange now (H1: no request in flight and reusable; H2: below the peer's
  // max concurrent streams and no GOAWAY).
  virtual bool can_take() const noexcept = 0;
  // Starts sending ex.request() (and its body as it arrives). Precondition: can_take().
  // The client calls ex.attach_upstream(*its side*) itself.
  virtual void attach(Exchange& ex) noexcept = 0;
  // Exchanges in flight.
  virtual std::size_t active() const noexcept = 0;
  // False once the connection cannot carry more requests (Connection: close, GOAWAY, error).
  virtual bool reusable() const noexcept = 0;
  // The upstream closed its sending side (TCP FIN or close_notify): complete a close-delimited
  // HTTP/1 response, or fail in-flight exchanges with 502 upstream_reset.
  virtual void peer_closed() noexcept = 0;
  // The transport closed or failed: fail every in-flight exchange with `status`/`why`.
  virtual void abort(int status, Reason why) noexcept = 0;
  // The earliest Exchange::deadline() among the exchanges in flight, if any.
  virtual std::optional<Exchange::Clock::time_point> next_deadline() const noexcept = 0;
  // Fails every exchange in flight whose deadline is <= now with 504 grpc_deadline_exceeded
  // and abandons it upstream (H2: RST_STREAM CANCEL; H1: the connection is not reused).
  virtual void expire(Exchange::Clock::time_point now) noexcept = 0;
};

// What an Http2Client advertises to the upstream. The defaults are today's fixed values; the
// [limits] table is meant to supply them.
struct Http2ClientLimits {
  // SETTINGS_INITIAL_WINDOW_SIZE: response bytes one stream may have in flight unconsumed.
  std::uint32_t stream_window = 64 * 1024;
  // Connection window: several streams' worth, so one slow downstream does not stall the others.
  std::uint32_t connection_window = 1024 * 1024;
  // Queued SETTINGS ACK / PING ACK frames before nghttp2 gives up on a peer that never reads.
  std::uint32_t max_outbound_control_frames = 1000;
};

std::unique_ptr<ClientSession> make_http1_client(ClientOwner& owner);
std::unique_ptr<ClientSession> make_http2_client(ClientOwner& owner,
                                                 const Http2ClientLimits& limits = {});

}  // namespace portcullis::gateway::http
