#include "gateway/listen/downstream_connection.h"

#include <algorithm>

#include "gateway/egress/address_class.h"
#include "gateway/egress/egress_handler.h"
#include "gateway/events/events.h"
#include "gateway/http/forwarded.h"
#include "gateway/http/local_reply.h"
#include "gateway/listen/plain_http.h"
#include "gateway/listen/rate_admission.h"
#include "gateway/snapshot/router.h"
#include "gateway/upstream/pool.h"
#include "routing/spiffe_id.h"
#include "tls/sni.h"

namespace portcullis::gateway::listen {
namespace {

// A connection drained before its first request waits this long for it (drain()): enough for
// a request already sent, short enough not to hold the drain up.
constexpr std::uint64_t kFirstRequestGraceMs = 1000;

http::SessionLimits session_limits(const config::Limits& l) {
  http::SessionLimits s;
  s.max_request_headers = l.max_request_headers;
  s.max_header_count = l.max_header_count;
  s.max_requests_per_connection = l.max_requests_per_connection;
  s.h2_max_concurrent_streams = l.h2_max_concurrent_streams;
  s.h2_stream_window = l.h2_stream_window;
  s.h2_connection_window = l.h2_connection_window;
  s.h2_header_table_size = l.h2_header_table_size;
  s.h2_max_continuations = l.h2_max_continuations;
  s.h2_max_settings = l.h2_max_settings;
  s.h2_max_outbound_control_frames = l.h2_max_outbound_control_frames;
  s.h2_max_client_resets = l.h2_max_client_resets;
  s.h2_max_server_resets = l.h2_max_server_resets;
  s.max_request_body = l.max_request_body;
  return s;
}

}  // namespace

std::string_view to_string(DownstreamState s) noexcept {
  switch (s) {
    case DownstreamState::reading_proxy_header: return "reading_proxy_header";
    case DownstreamState::tls_handshake: return "tls_handshake";
    case DownstreamState::serving: return "serving";
    case DownstreamState::draining: return "draining";
    case DownstreamState::closing: return "closing";
  }
  return "unknown";
}

DownstreamConnection::DownstreamConnection(upstream::WorkerContext& worker, runtime::SnapshotPtr snapshot,
                                           const runtime::ListenerRuntime& listener)
    : worker_(worker),
      snapshot_(std::move(snapshot)),
      listener_(listener),
      socket_(worker.loop(), *this) {
  facts_.listener = listener_.cfg->name;
  socket_.set_high_watermark(snapshot_->config.limits.buffer_per_direction);
}

DownstreamConnection::~DownstreamConnection() { worker_.remove(this); }

void DownstreamConnection::start() noexcept {
  worker_.add(this);
  uv_tcp_nodelay(socket_.tcp(), 1);
  worker_.events().connection_opened(listener_.cfg->name);
  sockaddr_storage peer{};
  int len = sizeof peer;
  uv_tcp_getpeername(socket_.tcp(), reinterpret_cast<sockaddr*>(&peer), &len);
  facts_.client_ip = io::ip_of(reinterpret_cast<const sockaddr*>(&peer));
  facts_.client_port = io::port_of(reinterpret_cast<const sockaddr*>(&peer));
  socket_.set_timer(static_cast<std::uint64_t>(
      snapshot_->config.limits.tls_handshake_timeout.count()));
  const config::Limits& limits = snapshot_->config.limits;
  if (!take_slot("l:" + listener_.cfg->name, limits.max_connections_per_listener,
                 Reason::listener_connection_limit)) {
    return;
  }
  if (listener_.cfg->proxy_protocol != config::ListenerConfig::ProxyProtocol::off) {
    // Only the load balancers named in trusted_proxies may speak first.
    bool trusted = false;
    for (const auto& c : listener_.trusted_proxies) {
      trusted = trusted || c.contains(reinterpret_cast<const sockaddr*>(&peer));
    }
    if (!trusted) {
      proxy_rejected(Reason::proxy_source_untrusted, "source not in trusted_proxies");
      return;
    }
    state_ = DownstreamState::reading_proxy_header;
    socket_.read(true);
    return;
  }
  begin_transport();
}

bool DownstreamConnection::take_slot(std::string key, std::uint32_t cap, Reason why) noexcept {
  if (cap == 0) {
    return true;
  }
  if (!worker_.connection_limits().acquire(key, cap)) {
    worker_.events().connection_refused(why);
    close(why);
    return false;
  }
  slots_.push_back(std::move(key));
  return true;
}

void DownstreamConnection::proxy_rejected(Reason why, std::string_view detail) noexcept {
  worker_.events().proxy_rejected(facts_, why, std::string(detail));
  close(why);
}

// The PROXY header is parsed from the raw bytes before TLS starts; the bytes after it are the
// ClientHello and go to TLS untouched.
void DownstreamConnection::on_proxy_bytes(std::string_view bytes) noexcept {
  proxy_buffer_.append(bytes);
  const ProxyResult r = listener_.proxy_parser.parse(proxy_buffer_);
  if (r.state == ProxyResult::State::need_more) {
    return;
  }
  if (r.state == ProxyResult::State::error) {
    proxy_rejected(Reason::proxy_header_invalid, to_string(r.error));
    return;
  }
  if (!r.local) {
    facts_.client_ip = r.source_ip;
    facts_.client_port = r.source_port;
  }
  const std::string rest = proxy_buffer_.substr(r.consumed);
  proxy_buffer_.clear();
  proxy_buffer_.shrink_to_fit();
  state_ = DownstreamState::tls_handshake;
  begin_transport();
  if (!rest.empty() && state_ != DownstreamState::closing) {
    socket_.inject(rest);
  }
}

void DownstreamConnection::begin_transport() noexcept {
  // The client address is final here (after any PROXY header).
  if (!take_slot("ip:" + facts_.client_ip, snapshot_->config.limits.max_connections_per_ip,
                 Reason::ip_connection_limit)) {
    return;
  }
  if (egress_listener() && listener_.front_ctx == nullptr) {
    start_plain_egress();
    return;
  }
  if (listener_.cfg->kind == config::ListenerConfig::Kind::http) {
    start_plain_http();
    return;
  }
  tls::SslPtr ssl{SSL_new(listener_.front_ctx.get())};
  if (!ssl) {
    close(Reason::internal_error);
    return;
  }
  tls::bind_selector(ssl.get(), &listener_.selector);
  socket_.set_tls(std::move(ssl), tls::Role::server);
  socket_.read(true);
}

bool DownstreamConnection::egress_listener() const noexcept {
  return listener_.cfg->kind == config::ListenerConfig::Kind::egress;
}

// client_auth = "none": plain HTTP/1.1, and only from this host (sidecar style).
void DownstreamConnection::start_plain_egress() noexcept {
  if (egress::classify(facts_.client_ip) != egress::AddressClass::loopback) {
    worker_.events().egress_decision("unauthenticated", "listener " + listener_.cfg->name,
                                     false, Reason::egress_non_loopback_client, facts_.client_ip);
    close(Reason::egress_denied);
    return;
  }
  source_identity_ = "unauthenticated";
  facts_.source_identity = source_identity_;
  tunnel_ = std::make_unique<egress::TunnelSession>(worker_, *snapshot_, source_identity_, *this);
  facts_.scheme = "http";
  facts_.alpn = "http/1.1";
  session_ = http::make_http1_session(*this, facts_, session_limits(snapshot_->config.limits));
  state_ = DownstreamState::serving;
  socket_.set_timer(static_cast<std::uint64_t>(snapshot_->config.limits.idle_timeout.count()));
  socket_.read(true);
}

// kind = "http": plain HTTP/1.1 answered by plain_http.cc (ACME challenges, 308 to https).
void DownstreamConnection::start_plain_http() noexcept {
  facts_.scheme = "http";
  facts_.alpn = "http/1.1";
  session_ = http::make_http1_session(*this, facts_, session_limits(snapshot_->config.limits));
  state_ = DownstreamState::serving;
  socket_.set_timer(static_cast<std::uint64_t>(snapshot_->config.limits.idle_timeout.count()));
  socket_.read(true);
}

void DownstreamConnection::on_handshake_done() noexcept {
  SSL* ssl = socket_.tls()->ssl();
  if (egress_listener()) {
    // The mesh CA verified the chain; the workload's SPIFFE ID is the source identity.
    const tls::TlsSummary& sum = socket_.tls()->summary();
    const auto id = routing::parse_spiffe_id(sum.peer_identity);
    if (!id || id->trust_domain != snapshot_->config.mesh.trust_domain) {
      worker_.events().handshake_rejected(facts_, Reason::tls_client_cert_rejected,
                                    "no SPIFFE ID in the mesh trust domain");
      close(Reason::tls_client_cert_rejected);
      return;
    }
    source_identity_ = sum.peer_identity;
    facts_.source_identity = source_identity_;
    if (sum.alpn != "h2") {
      tunnel_ = std::make_unique<egress::TunnelSession>(worker_, *snapshot_, source_identity_,
                                                        *this);
    }
    facts_.sni = sum.sni;
    facts_.tls_version = sum.version;
    facts_.alpn = sum.alpn.empty() ? "http/1.1" : sum.alpn;
    const auto limits = session_limits(snapshot_->config.limits);
    session_ = sum.alpn == "h2" ? http::make_http2_session(*this, facts_, limits)
                                : http::make_http1_session(*this, facts_, limits);
    state_ = DownstreamState::serving;
    socket_.set_timer(static_cast<std::uint64_t>(snapshot_->config.limits.idle_timeout.count()));
    flush();
    return;
  }
  const auto t = tls::selected_tenant(ssl);
  if (!t || *t >= snapshot_->tenants.size()) {
    close(Reason::tls_unknown_sni);
    return;
  }
  tenant_ = &snapshot_->tenants[*t];
  if (!take_slot("t:" + tenant_->cfg->name, snapshot_->config.limits.max_connections_per_tenant,
                 Reason::tenant_connection_limit)) {
    return;
  }
  const tls::TlsSummary& sum = socket_.tls()->summary();
  tenant_by_fallback_ = sum.sni.empty() || snapshot_->sni.find(sum.sni) == nullptr;
  facts_.sni = sum.sni;
  facts_.tls_version = sum.version;
  facts_.alpn = sum.alpn.empty() ? "http/1.1" : sum.alpn;
  // HTTP/2 starts with our SETTINGS; an HTTP/1.1 session waits for the first request byte
  // (on_plaintext), so that an idle connection carries no parser.
  if (sum.alpn == "h2") {
    session_ = http::make_http2_session(*this, facts_, session_limits(snapshot_->config.limits));
  }
  state_ = DownstreamState::serving;
  worker_.events().handshake_done(sum, tenant_->cfg->name);
  socket_.set_timer(static_cast<std::uint64_t>(snapshot_->config.limits.idle_timeout.count()));
  if (worker_.draining()) {
    drain();
  }
  flush();
}

void DownstreamConnection::on_plaintext(std::string_view bytes) noexcept {
  if (state_ == DownstreamState::reading_proxy_header) {
    on_proxy_bytes(bytes);
    return;
  }
  const bool first_after_drain = !session_ && first_request_grace_;
  if (!session_ && (state_ == DownstreamState::serving || first_after_drain)) {
    session_ = http::make_http1_session(*this, facts_, session_limits(snapshot_->config.limits));
  }
  if (!session_ || state_ == DownstreamState::closing) {
    return;
  }
  std::string seen;
  if (tunnel_ && tunnel_->phase() != egress::TunnelPhase::none) {
    if (tunnel_->feed(bytes)) {
      return;
    }
    seen = tunnel_->take_buffered();  // not a CONNECT: every byte seen goes to the session
    bytes = seen;
  }
  // Slowloris: a request head must be complete within header_timeout of its first byte.
  // HTTP/1.1: the first byte while idle begins a head. HTTP/2: a stream's HEADERS does, not the
  // preface or a PING (an idle HTTP/2 connection lasts idle_timeout, as nginx's does).
  const bool h2 = facts_.alpn == "h2";
  if (!h2 && session_->idle() && header_deadline_ == Clock::time_point{}) {
    header_deadline_ = Clock::now() + snapshot_->config.limits.header_timeout;
  }
  busy_ = true;
  const bool ok = session_->feed(bytes);
  if (h2 && session_) {
    if (!session_->head_pending()) {
      header_deadline_ = {};  // every begun head ended (or its stream was reset)
    } else if (header_deadline_ == Clock::time_point{}) {
      header_deadline_ = Clock::now() + snapshot_->config.limits.header_timeout;
    }
  }
  if (first_after_drain) {
    first_request_grace_ = false;
    session_->start_drain();  // after its bytes: this request, with Connection: close, only
  }
  busy_ = false;
  if (!ok) {
    close_reason_ = Reason::http_malformed;
  }
  arm_timer();
  flush();
}

void DownstreamConnection::output_ready() noexcept {
  if (busy_) {
    flush_again_ = true;
    return;
  }
  if (state_ != DownstreamState::closing) {
    worker_.defer_flush(this);
  }
}

void DownstreamConnection::flush() noexcept {
  if (state_ == DownstreamState::closing || !session_ || (tunnel_ && tunnel_->active())) {
    return;
  }
  if (busy_) {
    flush_again_ = true;
    return;
  }
  busy_ = true;
  std::string out;
  do {
    flush_again_ = false;
    while (socket_.writable()) {
      out.clear();
      session_->pull_output(out, 16 * 1024);
      if (out.empty()) {
        break;
      }
      socket_.send(out);
    }
  } while (flush_again_);
  busy_ = false;
  if (state_ == DownstreamState::closing) {
    return;
  }
  if (session_->should_close() || close_reason_ != Reason::none) {
    if (socket_.backlog() == 0) {
      close(close_reason_ != Reason::none ? close_reason_ : Reason::none);
    } else {
      socket_.read(false);  // finish writing, then close in on_writable
    }
    return;
  }
  socket_.read(session_->want_read() && socket_.writable());
}

void DownstreamConnection::on_writable() noexcept {
  if (tunnel_ && tunnel_->active()) {
    tunnel_->client_drained();
    if (close_reason_ != Reason::none && socket_.backlog() == 0) {
      close(close_reason_);
    }
    return;
  }
  if (!session_) {
    // A rejected handshake waits here for its alert to leave.
    if (close_reason_ != Reason::none && socket_.backlog() == 0) {
      close(close_reason_);
    }
    return;
  }
  flush();
}

void DownstreamConnection::on_peer_eof() noexcept {
  if (state_ == DownstreamState::tls_handshake ||
      state_ == DownstreamState::reading_proxy_header) {
    close(Reason::tls_handshake_failed);
    return;
  }
  close(Reason::peer_closed);
}

void DownstreamConnection::on_transport_error(int) noexcept {
  if (state_ == DownstreamState::tls_handshake) {
    handshake_failed();
    return;
  }
  close(Reason::peer_closed);
}

void DownstreamConnection::handshake_failed() noexcept {
  const tls::TlsStream* t = socket_.tls();
  Reason why = Reason::tls_handshake_failed;
  if (t != nullptr) {
    switch (t->failure()) {
      case tls::Failure::unknown_sni: why = Reason::tls_unknown_sni; break;
      case tls::Failure::tenant_quarantined: why = Reason::tenant_quarantined; break;
      case tls::Failure::tenant_build_queue_full: why = Reason::tenant_build_queue_full; break;
      case tls::Failure::peer_cert_untrusted: why = Reason::tls_client_cert_rejected; break;
      case tls::Failure::peer_cert_missing: why = Reason::tls_client_cert_required; break;
      default: break;
    }
  }
  std::string detail;
  if (t != nullptr) {
    detail = t->requested_sni().empty() ? "no sni" : "sni " + t->requested_sni();
    if (!t->failure_detail().empty()) {
      detail += "; " + t->failure_detail();
    }
  }
  worker_.events().handshake_rejected(facts_, why, detail);
  // The alert is already queued; give it a moment to leave before the socket closes.
  socket_.read(false);
  if (socket_.backlog() == 0) {
    close(why);
  } else {
    close_reason_ = why;
    state_ = DownstreamState::draining;
  }
}

void DownstreamConnection::arm_timer() noexcept {
  auto ms = snapshot_->config.limits.idle_timeout;
  if (header_deadline_ != Clock::time_point{}) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(header_deadline_ -
                                                                            Clock::now());
    ms = std::max(std::chrono::milliseconds{1}, std::min(ms, left));
  }
  socket_.set_timer(static_cast<std::uint64_t>(ms.count()));
}

void DownstreamConnection::on_timeout() noexcept {
  if (state_ == DownstreamState::reading_proxy_header) {
    proxy_rejected(Reason::proxy_header_invalid, "PROXY header deadline");
    return;
  }
  if (state_ == DownstreamState::tls_handshake) {
    worker_.events().handshake_rejected(facts_, Reason::tls_handshake_timeout, {});
    close(Reason::tls_handshake_timeout);
    return;
  }
  if (header_deadline_ != Clock::time_point{} && Clock::now() >= header_deadline_) {
    request_timed_out();
    return;
  }
  if (first_request_grace_) {
    close(Reason::none);  // drained, and no request came within the grace
    return;
  }
  if (!session_ || session_->idle() || session_->lingering() || (tunnel_ && tunnel_->active())) {
    worker_.events().connection_closed_on_limit(Reason::idle_timeout);
    close(Reason::idle_timeout);
    return;
  }
  arm_timer();
}

// --- egress CONNECT tunnels (egress::TunnelSession drives them through these) ---

void DownstreamConnection::client_activity() noexcept {
  socket_.set_timer(static_cast<std::uint64_t>(snapshot_->config.limits.idle_timeout.count()));
}

void DownstreamConnection::end_after_output(Reason why) noexcept {
  close_reason_ = why;
  socket_.read(false);
  if (socket_.backlog() == 0) {
    close(why);
  }
}

// 408 for HTTP/1.1 (nothing else is in flight: the head never completed), GOAWAY for HTTP/2.
void DownstreamConnection::request_timed_out() noexcept {
  header_deadline_ = {};
  request_rejected(408, Reason::header_timeout);
  close_reason_ = Reason::header_timeout;
  socket_.read(false);
  if (facts_.alpn == "h2") {
    session_->start_drain();
    flush();
    return;
  }
  socket_.send(http::http1_text({408, Reason::header_timeout, "request timeout", true}));
  if (socket_.backlog() == 0) {
    close(Reason::header_timeout);
  }
}

void DownstreamConnection::drain() noexcept {
  if (state_ == DownstreamState::tls_handshake) {
    return;  // finishes its handshake first, then drains (on_handshake_done)
  }
  if (state_ != DownstreamState::serving) {
    return;
  }
  state_ = DownstreamState::draining;
  if (!session_) {
    // HTTP/1.1 without a request yet. Accepted (or its handshake done) just before the drain,
    // its first request may be on the wire: closing now would fail it. A short grace for it
    // (on_plaintext answers it with Connection: close), then close (on_timeout).
    first_request_grace_ = true;
    socket_.set_timer(kFirstRequestGraceMs);
    return;
  }
  session_->start_shutdown();
  flush();
}

void DownstreamConnection::close(Reason why) noexcept {
  if (state_ == DownstreamState::closing) {
    return;
  }
  state_ = DownstreamState::closing;
  worker_.cancel_flush(this);
  if (tunnel_) {
    tunnel_->detach();
  }
  close_reason_ = why;
  socket_.close();
}

void DownstreamConnection::on_closed() noexcept {
  if (tunnel_) {  // closed without close() (accept failure): let the tunnel go
    tunnel_->detach();
  }
  // The session goes first: aborting exchanges tells their upstream sides to let go.
  if (session_) {
    session_->abort();
    session_.reset();
  }
  for (const auto& key : slots_) {
    worker_.connection_limits().release(key);
  }
  worker_.events().connection_closed(listener_.cfg->name);
  delete this;
}

void DownstreamConnection::start_exchange(http::Exchange& ex) noexcept {
  header_deadline_ = {};
  if (worker_.shedding()) {
    // Over [limits].memory_budget: refuse new work before the kernel OOM killer refuses all of it.
    ex.info().tenant = tenant_ != nullptr ? tenant_->cfg->name : std::string();
    http::send(ex, http::overloaded_reply());
    return;
  }
  if (!egress_listener() && tenant_ != nullptr &&
      refuse_if_rate_limited(worker_, *snapshot_, *tenant_, facts_, ex)) {
    return;
  }
  route(ex);
}

void DownstreamConnection::route(http::Exchange& ex) {
  if (egress_listener()) {
    ex.info().authority = ex.request().authority;
    egress::handle_egress(worker_, snapshot_, source_identity_, ex);
    return;
  }
  if (listener_.cfg->kind == config::ListenerConfig::Kind::http) {
    answer_plain_http(ex, *snapshot_);
    return;
  }
  auto& info = ex.info();
  info.tenant = tenant_->cfg->name;
  info.authority = ex.request().authority;
  const tls::TlsSummary& sum = socket_.tls()->summary();
  runtime::RouteInput in;
  in.tenant = tls::selected_tenant(socket_.tls()->ssl()).value_or(0);  // tenant_'s index
  in.tenant_by_fallback = tenant_by_fallback_;
  in.authority = ex.request().authority;
  in.path = ex.request().path;
  in.client_identity = sum.peer_identity.empty() ? sum.peer_subject : sum.peer_identity;
  in.upgrade = ex.request().upgrade;
  const runtime::RouteResult r = runtime::route_request(*snapshot_, in);
  info.route = r.route;
  if (r.cluster == nullptr) {
    http::send(ex, r.reply);
    return;
  }
  if (!ex.request().upgrade.empty()) {
    // [limits] tenant_upgraded_connections: open WebSockets per tenant, across workers.
    if (!worker_.connection_limits().acquire(
            "u:" + info.tenant, snapshot_->config.limits.tenant_upgraded_connections)) {
      http::send(ex, {503, Reason::upgraded_connection_limit, "too many open websockets", true});
      return;
    }
    upgraded_.push_back(&ex);
  }
  const runtime::ClusterRuntime& cluster = *r.cluster;
  info.cluster = cluster.cfg->name;
  http::ForwardingInput fwd;
  fwd.conn = &facts_;
  if (sum.peer_cert) {
    fwd.client_cert_uri = routing::parse_spiffe_id(sum.peer_identity) ? sum.peer_identity : "";
    fwd.client_cert_subject = sum.peer_subject;
    fwd.client_cert_hash = sum.peer_cert_sha256;
  }
  fwd.by = snapshot_->gateway_identity;
  info.request_id = http::apply_forwarding(ex.request(), fwd);
  // Like nginx's default ($proxy_host): the upstream sees the name it is verified under; the
  // client's host travels in X-Forwarded-Host.
  if (!cluster.cfg->server_name.empty()) {
    ex.request().authority = cluster.cfg->server_name;
  }
  worker_.pool().acquire(snapshot_, cluster, ex);
}

void DownstreamConnection::exchange_done(http::Exchange& ex) noexcept {
  if (auto it = std::find(upgraded_.begin(), upgraded_.end(), &ex); it != upgraded_.end()) {
    upgraded_.erase(it);
    worker_.connection_limits().release("u:" + ex.info().tenant);
  }
  worker_.events().exchange_done(facts_, ex);
}

void DownstreamConnection::request_rejected(int status, Reason why) noexcept {
  worker_.events().request_rejected(facts_, tenant_ != nullptr ? tenant_->cfg->name : "", status,
                                    why);
}

}  // namespace portcullis::gateway::listen
