// Client-side TLS session resumption for upstream connections.
//
// A full client handshake costs two signature verifications and a certificate decode per
// upstream certificate, plus our own signature; resuming skips all of it. make_client_context
// turns on the callback below for every client context; nothing is kept unless a connection
// registered a SessionSink, and OpenSSL's internal client cache stays off (it held every
// session and peer chain, growing with each upstream handshake across reloads).
//
// Safety rests on the caller: a session may only be offered to a connection that would have
// accepted the same peer, i.e. stored and looked up under a key naming the roots, client
// certificate and expected identity (upstream::PoolKey), and only stored once every check on
// the full handshake passed.
#pragma once

#include <ctime>
#include <memory>

#include <openssl/ssl.h>

#include "certs/ptr.h"

namespace portcullis::tls {

using SslSessionPtr = std::unique_ptr<SSL_SESSION, certs::Free<SSL_SESSION_free>>;

// Receives the sessions (TLS 1.2 at the end of the handshake, TLS 1.3 with each
// NewSessionTicket) of the SSL it was registered on. Called inside SSL_read / SSL_do_handshake.
class SessionSink {
 public:
  virtual void on_new_session(SslSessionPtr session) noexcept = 0;

 protected:
  ~SessionSink() = default;
};

// Called by make_client_context.
void enable_client_sessions(SSL_CTX* ctx) noexcept;

// Registers `sink` for `ssl`'s new sessions (nullptr: sessions are dropped).
void set_session_sink(SSL* ssl, SessionSink* sink) noexcept;

// True while `s` can still be offered: resumable and within its lifetime at `now`.
bool session_usable(const SSL_SESSION* s, std::time_t now) noexcept;

}  // namespace portcullis::tls
