#include "tls/session.h"

namespace portcullis::tls {
namespace {

int sink_index() noexcept {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Keeps a copy: OpenSSL marks the session it hands us not resumable if the connection later
// ends in an error (remove_session_lock), e.g. an upstream that closes without close_notify.
// Returns 0: OpenSSL keeps (and frees) its own.
int on_new_session(SSL* ssl, SSL_SESSION* session) noexcept {
  auto* sink = static_cast<SessionSink*>(SSL_get_ex_data(ssl, sink_index()));
  if (sink == nullptr || SSL_SESSION_is_resumable(session) != 1) {
    return 0;
  }
  SslSessionPtr copy{SSL_SESSION_dup(session)};
  if (copy) {
    sink->on_new_session(std::move(copy));
  }
  return 0;
}

}  // namespace

void enable_client_sessions(SSL_CTX* ctx) noexcept {
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
}

void set_session_sink(SSL* ssl, SessionSink* sink) noexcept {
  SSL_set_ex_data(ssl, sink_index(), sink);
}

bool session_usable(const SSL_SESSION* s, std::time_t now) noexcept {
  if (s == nullptr || SSL_SESSION_is_resumable(s) != 1) {
    return false;
  }
  // The server's ticket lifetime (TLS 1.3) or the session timeout (TLS 1.2): an expired
  // session would only cost a round of PSK negotiation before the full handshake.
  const std::time_t born = static_cast<std::time_t>(SSL_SESSION_get_time(s));
  const long lifetime = SSL_SESSION_get_timeout(s);
  return now >= born && now - born < lifetime;
}

}  // namespace portcullis::tls
