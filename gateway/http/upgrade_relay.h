// Upgrade relay: what both downstream sessions share for a WebSocket.
//
// A WebSocket is one Exchange whose request body is the client's side of the byte stream and
// whose response body (after the upstream's 101) is the upstream's side; the body buffers'
// watermarks are the backpressure both ways. HTTP/1.1 clients ask with `Upgrade: websocket`
// (RFC 6455); HTTP/2 clients with an extended CONNECT (RFC 8441, `:protocol websocket`), which
// is translated here into the HTTP/1.1 handshake the upstream expects, and its 101 back into
// the 200 an HTTP/2 client expects.
//
// Thread: one worker loop; pure functions plus the Exchange they are given.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/http/exchange.h"
#include "gateway/http/message.h"

namespace portcullis::gateway::http::upgrade {

inline constexpr std::string_view kWebSocket = "websocket";

// Where RFC 6455 frames end in one direction of the stream: header bytes, then payload.
class FrameCursor {
 public:
  // Follows `bytes`; returns how many were taken: all of them, or (stop_at_end) the ones up to
  // the end of the first frame that ends inside them.
  std::size_t advance(std::string_view bytes, bool stop_at_end) noexcept;
  bool at_boundary() const noexcept { return have_ == 0 && remaining_ == 0; }

 private:
  std::uint8_t head_[14] = {};  // the frame header so far (at most 2 + 8 + 4 bytes)
  std::size_t have_ = 0;
  std::uint64_t remaining_ = 0;  // payload bytes of the current frame still to come
};

// The client's side of an upgraded stream, passed on as request body. On going_away() (the
// gateway shuts down) a close frame 1001 "going away" goes to the upstream at the next frame
// boundary, as if the client had sent it; the client's later bytes are dropped. The upstream
// answers with its own close frame, which reaches the client, and ends the stream: both sides
// see a clean WebSocket close.
class ClientRelay {
 public:
  // False when out of memory: the caller gives up on the connection.
  bool relay(Exchange& ex, std::string_view bytes) noexcept;
  // Only for a WebSocket the upstream accepted (the caller checks).
  bool going_away(Exchange& ex) noexcept;
  bool closing() const noexcept { return going_away_; }

 private:
  bool close_upstream(Exchange& ex) noexcept;

  FrameCursor cursor_;
  bool going_away_ = false;  // close at the next boundary
  bool closed_ = false;      // the close frame was queued: nothing more goes to the upstream
};

// True when the exchange is a WebSocket whose handshake the upstream accepted (101).
bool websocket_open(Exchange& ex) noexcept;

// RFC 8441 5: the request head of an extended CONNECT with :protocol websocket becomes the
// RFC 6455 opening handshake: GET, upgrade "websocket", a fresh Sec-WebSocket-Key and
// Sec-WebSocket-Version 13 (kept when the client sent one). The body is the stream.
void extended_connect_to_handshake(RequestHead& head);

// The upstream's answer to a translated handshake, for the HTTP/2 stream: 101 becomes 200
// (RFC 8441 5) without the RFC 6455 accept field; the body is the upstream's side of the
// stream. A 2xx (an upstream that does not speak WebSocket) becomes 502; any other status
// passes as it is (the upstream refused the WebSocket).
void handshake_answer_for_h2(ResponseHead& r);

// True for an HTTP/1.1 head that asks to switch protocols (an Upgrade field and the "upgrade"
// Connection option) to something other than WebSocket (h2c, ...): refused with 501
// (upgrade_refused). `fields` are raw (names as sent). WebSocket is the only upgrade.
bool asks_other_upgrade(const Headers& fields);

// A random Sec-WebSocket-Key: 16 bytes, base64 (RFC 6455 4.1). A nonce, not a secret.
std::string websocket_key();

}  // namespace portcullis::gateway::http::upgrade
