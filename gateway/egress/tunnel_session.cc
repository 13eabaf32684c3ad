#include "gateway/egress/tunnel_session.h"

#include <algorithm>

#include "gateway/egress/connect_request.h"
#include "gateway/events/events.h"
#include "gateway/http/local_reply.h"
#include "tls/client_hello.h"

namespace portcullis::gateway::egress {

TunnelSession::TunnelSession(upstream::WorkerContext& worker, const runtime::Snapshot& snap,
                             std::string source_identity, TunnelClient& client)
    : worker_(worker), snap_(snap), source_(std::move(source_identity)), client_(&client) {}

TunnelSession::~TunnelSession() { detach(); }

void TunnelSession::detach() noexcept {
  client_ = nullptr;
  if (tunnel_ != nullptr) {
    tunnel_->detach_and_close();
    tunnel_ = nullptr;
  }
}

std::string TunnelSession::take_buffered() noexcept {
  std::string out;
  out.swap(buffer_);
  return out;
}

bool TunnelSession::feed(std::string_view bytes) noexcept {
  static constexpr std::string_view kConnect = "CONNECT ";
  if (client_ == nullptr) {
    return true;  // closing: nothing more goes anywhere
  }
  if (phase_ == TunnelPhase::none) {
    return false;
  }
  if (phase_ == TunnelPhase::relaying) {
    if (tunnel_ == nullptr) {
      return true;  // the destination closed; the client is getting what it sent
    }
    tunnel_->send(bytes);
    if (!tunnel_->writable()) {
      client_->read_client(false);  // backpressure: resume in tunnel_writable()
    }
    client_->client_activity();
    return true;
  }
  buffer_.append(bytes);
  if (phase_ == TunnelPhase::undecided) {
    const std::size_t n = std::min(buffer_.size(), kConnect.size());
    if (buffer_.compare(0, n, kConnect.substr(0, n)) != 0) {
      phase_ = TunnelPhase::none;
      return false;
    }
    if (buffer_.size() < kConnect.size()) {
      return true;
    }
    phase_ = TunnelPhase::reading_connect;
  }
  // The CONNECT head and then the ClientHello wait here: bounded like every other buffer.
  if (buffer_.size() > snap_.config.limits.buffer_per_direction + 16 * 1024) {
    client_->read_client(false);  // the client runs ahead of the tunnel set-up; wait
  }
  switch (phase_) {
    case TunnelPhase::reading_connect: {
      const ConnectRequest req = parse_connect(buffer_);
      if (req.state == ConnectRequest::State::need_more) {
        return true;
      }
      if (req.state == ConnectRequest::State::error) {
        refuse(req.status, Reason::http_malformed, Reason::egress_bad_connect, req.error);
        return true;
      }
      dest_ = Destination{req.host, req.port};
      buffer_.erase(0, req.consumed);
      start();
      return true;
    }
    case TunnelPhase::awaiting_hello:
      check_hello();
      return true;
    default:
      return true;  // connecting: keep the bytes for the ClientHello check
  }
}

void TunnelSession::start() noexcept {
  const std::string dest = destination_text(dest_);
  const routing::Decision d = snap_.egress_policy.decide(source_, dest_.host, dest_.port);
  if (!d.allow || !d.rule) {
    refuse(403, Reason::egress_denied, policy_reason(d.reason), "CONNECT " + dest);
    return;
  }
  const config::EgressConfig& cfg = *snap_.egress[*d.rule].cfg;
  if (cfg.mode != "tunnel") {
    // Origination is the default: the gateway's own TLS checks are skipped only where an
    // entry says so.
    refuse(403, Reason::egress_denied, Reason::egress_tunnel_not_allowed, "CONNECT " + dest);
    return;
  }
  phase_ = TunnelPhase::connecting;
  Tunnel* t = Tunnel::open(worker_.loop(), snap_.config.gateway.resolver, dest_, cfg.allow_private,
                           *this, snap_.config.limits.buffer_per_direction);
  // An IP-literal destination is checked before open() returns: when that failed, the Tunnel
  // is already closing itself and must not be kept.
  if (!failed_) {
    tunnel_ = t;
  }
}

void TunnelSession::tunnel_connected(const std::string&) noexcept {
  if (client_ == nullptr) {
    return;
  }
  phase_ = TunnelPhase::awaiting_hello;
  client_->send_to_client("HTTP/1.1 200 Connection Established\r\n\r\n");
  client_->read_client(true);
  if (!buffer_.empty()) {
    check_hello();
  }
}

// The tunnelled ClientHello must name the host the CONNECT named: no tunnelling elsewhere.
void TunnelSession::check_hello() noexcept {
  const tls::HelloInfo hello = tls::parse_client_hello(buffer_);
  if (hello.result == tls::HelloParse::need_more) {
    return;
  }
  const std::string dest = destination_text(dest_);
  if (hello.result != tls::HelloParse::ok || hello.sni != dest_.host) {
    const Reason why = hello.result == tls::HelloParse::ok ? Reason::egress_sni_mismatch
                                                           : Reason::egress_not_tls;
    worker_.events().egress_decision(source_, dest, false, why,
                                     "tunnelled SNI \"" + hello.sni + "\"");
    client_->close_now(Reason::egress_denied);
    return;
  }
  worker_.events().egress_decision(source_, dest, true, Reason::egress_tunnel, "");
  phase_ = TunnelPhase::relaying;
  tunnel_->send(buffer_);
  buffer_.clear();
  buffer_.shrink_to_fit();
  client_->read_client(tunnel_->writable());
}

void TunnelSession::tunnel_failed(int status, Reason why, Reason audit_reason,
                                  const std::string& detail) noexcept {
  tunnel_ = nullptr;  // it is closing itself
  failed_ = true;
  if (client_ != nullptr) {
    refuse(status, why, audit_reason, detail);
  }
}

void TunnelSession::refuse(int status, Reason why, Reason audit_reason,
                           const std::string& detail) noexcept {
  worker_.events().egress_decision(source_, destination_text(dest_), false, audit_reason, detail);
  phase_ = TunnelPhase::connecting;  // no HTTP session from here on
  client_->read_client(false);
  client_->send_to_client(http::http1_text(http::egress_denied_reply(status, why, audit_reason)));
  client_->end_after_output(why);
}

void TunnelSession::tunnel_data(std::string_view bytes) noexcept {
  if (client_ == nullptr) {
    return;
  }
  client_->send_to_client(bytes);
  if (!client_->client_writable() && tunnel_ != nullptr) {
    tunnel_->read(false);  // backpressure: resume in client_drained()
  }
}

void TunnelSession::client_drained() noexcept {
  if (phase_ == TunnelPhase::relaying && tunnel_ != nullptr) {
    tunnel_->read(true);
  }
}

void TunnelSession::tunnel_writable() noexcept {
  if (phase_ == TunnelPhase::relaying && client_ != nullptr) {
    client_->read_client(true);
  }
}

void TunnelSession::tunnel_closed() noexcept {
  // The destination closed: deliver what it sent, then close.
  tunnel_ = nullptr;
  if (client_ != nullptr) {
    client_->read_client(false);
    client_->end_after_output(Reason::peer_closed);
  }
}

}  // namespace portcullis::gateway::egress
