#include "gateway/upstream/upstream_connection.h"

#include <algorithm>
#include <cstring>

#include <openssl/err.h>

#include "gateway/dns/resolver.h"
#include "gateway/events/events.h"
#include "gateway/http/local_reply.h"
#include "tls/verify.h"

namespace portcullis::gateway::upstream {

// An exchange waiting for the connection to become ready. While it waits it is the exchange's
// UpstreamSide, so a client that goes away is forgotten at once.
namespace {

// Why a client handshake failed, from the verify result and the error queue's last reason.
Reason handshake_failure_reason(const tls::TlsStream& t, bool egress) noexcept {
  switch (SSL_get_verify_result(t.ssl())) {
    case X509_V_OK: break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return egress ? Reason::expired : Reason::upstream_tls_failed;
    case X509_V_ERR_HOSTNAME_MISMATCH:
      return egress ? Reason::name_mismatch : Reason::upstream_identity_mismatch;
    case tls::kVerifyLeafIsCa:
      return egress ? Reason::leaf_is_ca : Reason::upstream_tls_failed;
    case tls::kVerifyNoServerAuth:
      return egress ? Reason::eku_not_server_auth : Reason::upstream_tls_failed;
    case X509_V_ERR_EE_KEY_TOO_SMALL:
    case X509_V_ERR_CA_KEY_TOO_SMALL:
      return egress ? Reason::weak_key : Reason::upstream_tls_failed;
    default:
      return egress ? Reason::untrusted_ca : Reason::upstream_tls_failed;
  }
  const int r = ERR_GET_REASON(t.failure_code());
  if (egress && (r == SSL_R_UNSUPPORTED_PROTOCOL || r == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
                 r == SSL_R_NO_PROTOCOLS_AVAILABLE || r == SSL_R_WRONG_SSL_VERSION ||
                 r == SSL_R_VERSION_TOO_LOW)) {
    return Reason::tls_version;
  }
  return Reason::upstream_tls_failed;
}

}  // namespace

struct UpstreamConnection::Waiting final : http::UpstreamSide {
  http::Exchange* ex = nullptr;
  void on_request_body(http::Exchange&) noexcept override {}  // stays buffered (bounded)
  void on_response_body_consumed(http::Exchange&, std::size_t) noexcept override {}
  void on_downstream_abort(http::Exchange&) noexcept override { ex = nullptr; }
};

UpstreamConnection::UpstreamConnection(WorkerContext& worker, Pool& pool, PoolKey key,
                                       runtime::SnapshotPtr snap, Target target,
                                       Endpoint endpoint)
    : worker_(worker),
      pool_(pool),
      key_(std::move(key)),
      snap_(std::move(snap)),
      target_(std::move(target)),
      endpoint_(std::move(endpoint)),
      socket_(worker.loop(), *this) {
  socket_.set_high_watermark(snap_->config.limits.buffer_per_direction);
}

UpstreamConnection::~UpstreamConnection() = default;

void UpstreamConnection::start() noexcept {
  sockaddr_storage addr{};
  connect_deadline_ = Clock::now() + target_.connect_timeout;
  arm_connect_timer();
  if (endpoint_.address) {
    connect_to(reinterpret_cast<const sockaddr*>(&*endpoint_.address));
    return;
  }
  const io::HostPort& hp = endpoint_.host_port;
  if (io::parse_ip(hp.host, hp.port, addr)) {
    connect_to(reinterpret_cast<const sockaddr*>(&addr));
    return;
  }
  // Host names resolve through the worker's c-ares channel (never libuv's thread pool, where a
  // slow resolver would stall file-system work too).
  dns::Resolver& resolver =
      dns::Resolver::for_loop(worker_.loop(), snap_->config.gateway.resolver);
  lookup_ = resolver.resolve(hp.host, /*absolute=*/false,
                             [this](int status, std::vector<std::string> addresses) {
                               on_resolved(status, addresses);
                             });
}

void UpstreamConnection::on_resolved(int status,
                                     const std::vector<std::string>& addresses) noexcept {
  lookup_ = nullptr;  // done: must not be cancelled any more
  sockaddr_storage addr{};
  if (status != 0 || addresses.empty() ||
      !io::parse_ip(addresses.front(), endpoint_.host_port.port, addr)) {
    worker_.events().upstream_failed(target_, Reason::upstream_resolve_failed);
    fail_all(502, Reason::upstream_resolve_failed);
    close();
    return;
  }
  connect_to(reinterpret_cast<const sockaddr*>(&addr));
}

void UpstreamConnection::connect_to(const sockaddr* addr) noexcept {
  address_ = io::to_string(addr);
  const int rc = socket_.connect(addr);
  if (rc != 0) {
    worker_.events().upstream_failed(target_, Reason::upstream_connect_failed);
    fail_all(502, Reason::upstream_connect_failed);
    close();
  }
}

void UpstreamConnection::on_connected(int status) noexcept {
  if (status != 0) {
    worker_.events().upstream_failed(target_, Reason::upstream_connect_failed);
    traffic_result(false);
    fail_all(502, Reason::upstream_connect_failed);
    close();
    return;
  }
  if (target_.ctx == nullptr) {
    became_ready(target_.require_h2);
    return;
  }
  tls::SslPtr ssl{SSL_new(target_.ctx)};
  if (!ssl) {
    worker_.events().upstream_failed(target_, Reason::upstream_tls_failed);
    fail_all(502, Reason::upstream_tls_failed);
    close();
    return;
  }
  if (!target_.sni.empty()) {
    SSL_set_tlsext_host_name(ssl.get(), target_.sni.c_str());
  }
  if (!target_.expect_dns.empty() && target_.expect_uri.empty()) {
    // Checked during the handshake so that a mismatch is a verify error with its own code.
    SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
                                     X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(ssl.get(), target_.expect_dns.c_str());
  }
  if (SSL_SESSION* session = pool_.session_for(key_)) {
    SSL_set_session(ssl.get(), session);  // takes its own reference
  }
  tls::set_session_sink(ssl.get(), this);
  socket_.set_tls(std::move(ssl), tls::Role::client);
  socket_.read(true);
}

void UpstreamConnection::on_new_session(tls::SslSessionPtr session) noexcept {
  if (verified_) {
    pool_.store_session(key_, std::move(session));
  } else {
    early_session_ = std::move(session);  // kept only if verify_peer passes
  }
}

// Checks that OpenSSL's chain verification does not cover: identity, pins, key strength.
Reason UpstreamConnection::verify_peer(std::string& seen) noexcept {
  SSL* ssl = socket_.tls()->ssl();
  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (leaf == nullptr) {
    return target_.egress ? Reason::untrusted_ca : Reason::upstream_identity_mismatch;
  }
  seen = tls::peer_identity(leaf);
  if (!target_.expect_uri.empty() && !tls::has_uri_san(leaf, target_.expect_uri)) {
    return target_.egress ? Reason::name_mismatch : Reason::upstream_identity_mismatch;
  }
  if (target_.expect_uri.empty() && !target_.expect_dns.empty() &&
      !tls::matches_dns_name(leaf, target_.expect_dns)) {
    return target_.egress ? Reason::name_mismatch : Reason::upstream_identity_mismatch;
  }
  // A resumed session has no verified chain (nothing was verified); its chain passed these
  // checks on the full handshake that made it, under the same key and so the same pins.
  if (target_.egress && SSL_session_reused(ssl) == 0) {
    STACK_OF(X509)* chain = SSL_get0_verified_chain(ssl);
    for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
      if (tls::check_key_strength(sk_X509_value(chain, i)) != tls::KeyProblem::none) {
        return Reason::weak_key;
      }
    }
    if (!target_.pins.empty() && !tls::chain_matches_pin(chain, target_.pins)) {
      return Reason::pin_mismatch;
    }
  }
  return Reason::none;
}

void UpstreamConnection::traffic_result(bool ok) noexcept {
  if (endpoint_.health) {
    endpoint_.health->traffic_result(ok, target_.max_failures, target_.eject_time.count());
  }
}

void UpstreamConnection::refuse(Reason why, const std::string& seen,
                                const std::string& detail) noexcept {
  traffic_result(false);
  worker_.events().upstream_tls_failed(target_, address_, why, seen, detail);
  // Egress: the body names the failure class (the reason token), never the certificate.
  fail_all(502, why, target_.egress ? http::egress_tls_failure_line(why) : std::string());
  close();
}

void UpstreamConnection::on_handshake_done() noexcept {
  std::string seen;
  const Reason why = verify_peer(seen);
  if (why != Reason::none) {
    refuse(why, seen, {});
    return;
  }
  const std::string& alpn = socket_.tls()->summary().alpn;
  if (target_.require_h2 && alpn != "h2") {
    refuse(Reason::upstream_protocol_error, seen, "the upstream did not negotiate h2");
    return;
  }
  verified_ = true;
  if (early_session_) {
    pool_.store_session(key_, std::move(early_session_));
  }
  worker_.events().upstream_handshake(target_, SSL_session_reused(socket_.tls()->ssl()) == 1);
  became_ready(alpn == "h2" && maybe_h2());
}

void UpstreamConnection::became_ready(bool h2) noexcept {
  traffic_result(true);
  h2_ = h2;
  if (h2) {
    const config::Limits& l = snap_->config.limits;
    client_ = make_http2_client(*this, http::Http2ClientLimits{
                                           l.upstream_h2_stream_window,
                                           l.upstream_h2_connection_window,
                                           l.upstream_h2_max_outbound_control_frames});
  } else {
    client_ = make_http1_client(*this);
  }
  ready_ = true;
  socket_.read(true);
  socket_.set_timer(0);
  attach_waiting();
  flush();
}

bool UpstreamConnection::has_room() const noexcept {
  if (closing_) {
    return false;
  }
  if (!ready_) {
    // Only live waiters count: a request whose client reset it while this connection was
    // dialling must not make the next request dial another one (Rapid Reset amplification).
    const auto live = static_cast<std::size_t>(std::count_if(
        pending_.begin(), pending_.end(), [](const auto& w) { return w->ex != nullptr; }));
    return maybe_h2() ? live < 100 : live == 0;
  }
  return pending_.empty() && client_->reusable() && client_->can_take();
}

void UpstreamConnection::add(http::Exchange& ex) noexcept {
  auto w = std::make_unique<Waiting>();
  w->ex = &ex;
  ex.apply_grpc_timeout(Clock::now());
  ex.attach_upstream(*w);
  pending_.push_back(std::move(w));
  if (ready_) {
    attach_waiting();
    flush();
  } else if (ex.deadline()) {
    arm_connect_timer();  // the deadline may come before the connection
  }
}

void UpstreamConnection::arm_connect_timer() noexcept {
  auto until = connect_deadline_;
  if (const auto d = next_deadline(); d && *d < until) {
    until = *d;
  }
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
  socket_.set_timer(static_cast<std::uint64_t>(std::max<std::int64_t>(wait.count(), 1)));
}

std::optional<UpstreamConnection::Clock::time_point> UpstreamConnection::next_deadline()
    const noexcept {
  std::optional<Clock::time_point> first = client_ ? client_->next_deadline() : std::nullopt;
  for (const auto& w : pending_) {
    if (w->ex != nullptr && w->ex->deadline() && (!first || *w->ex->deadline() < *first)) {
      first = w->ex->deadline();
    }
  }
  return first;
}

bool UpstreamConnection::expire_deadlines(Clock::time_point now) noexcept {
  // Collect first: an answer runs downstream code, which must not see pending_ mid-walk.
  std::vector<http::Exchange*> expired;
  for (auto& w : pending_) {
    if (w->ex != nullptr && w->ex->deadline() && *w->ex->deadline() <= now) {
      expired.push_back(std::exchange(w->ex, nullptr));
    }
  }
  for (http::Exchange* ex : expired) {
    ex->detach_upstream();
    ex->info().upstream = address_;
    ex->fail(504, Reason::grpc_deadline_exceeded);
  }
  bool any = !expired.empty();
  if (client_) {
    if (const auto d = client_->next_deadline(); d && *d <= now) {
      busy_ = true;
      client_->expire(now);  // H2: RST_STREAM CANCEL per stream; H1: the connection goes
      busy_ = false;
      any = true;
    }
  }
  return any;
}

void UpstreamConnection::attach_waiting() noexcept {
  while (!pending_.empty() && client_ && client_->can_take()) {
    std::unique_ptr<Waiting> w = std::move(pending_.front());
    pending_.pop_front();
    if (w->ex == nullptr) {
      continue;  // its client went away while it waited
    }
    http::Exchange& ex = *w->ex;
    ex.detach_upstream();
    ex.info().upstream = address_;
    const auto now = Clock::now();
    if (ex.deadline() && *ex.deadline() <= now) {
      ex.fail(504, Reason::grpc_deadline_exceeded);  // never sent: nothing to cancel
      continue;
    }
    ex.apply_grpc_timeout(now);  // the time left as the request leaves
    if (socket_.tls() != nullptr) {
      ex.info().upstream_identity = socket_.tls()->summary().peer_identity;
    }
    if (!h2_) {
      // HTTP/1.1 carries one exchange at a time, so while active() is 1 this is the one: its
      // body must be complete by request_body_timeout (whatever the pace of its bytes). A
      // WebSocket's "body" is its stream: only request_timeout (idle) bounds it.
      uploading_ = ex.request().has_body && ex.request().upgrade.empty() &&
                           !ex.request_body().eof()
                       ? &ex
                       : nullptr;
      body_deadline_ = Clock::now() + snap_->config.limits.request_body_timeout;
    }
    busy_ = true;
    client_->attach(ex);
    busy_ = false;
  }
  if (client_ && client_->active() > 0) {
    arm_request_timer();
  }
}

http::Exchange* UpstreamConnection::uploading() const noexcept {
  if (h2_ || uploading_ == nullptr || !client_ || client_->active() == 0) {
    return nullptr;  // finished, or its client went away (the client let go of it)
  }
  return uploading_->request_body().eof() ? nullptr : uploading_;
}

// request_timeout is the idle time-out of a request in flight (restarts on every byte either
// way); an upload also has a whole-body deadline, and while it runs the timer ticks every second
// so that an upload whose client went away closes this connection promptly.
void UpstreamConnection::arm_request_timer(bool activity) noexcept {
  const auto now = Clock::now();
  if (activity) {
    last_activity_ = now;
  }
  using std::chrono::milliseconds;
  auto wait = std::max(std::chrono::duration_cast<milliseconds>(
                           last_activity_ + target_.request_timeout - now),
                       milliseconds{1});
  if (uploading() != nullptr) {
    const auto to_body = std::chrono::duration_cast<std::chrono::milliseconds>(
        body_deadline_ - now);
    wait = std::min({wait, std::max(to_body, std::chrono::milliseconds{1}),
                     std::chrono::milliseconds{kUploadTickMs}});
  }
  if (const auto d = next_deadline()) {
    // Rounded up, so the timer never fires just before the deadline and finds nothing due.
    const auto to_deadline = std::chrono::ceil<milliseconds>(*d - now);
    wait = std::min(wait, std::max(to_deadline, milliseconds{1}));
  }
  socket_.set_timer(static_cast<std::uint64_t>(wait.count()));
}

// Requests the pool queued for this key (past max_upstream_connections) while there is room.
void UpstreamConnection::take_queued() noexcept {
  while (!closing_ && pending_.empty() && client_ && client_->reusable() && client_->can_take()) {
    http::Exchange* ex = pool_.next_queued(key_);
    if (ex == nullptr) {
      return;
    }
    auto w = std::make_unique<Waiting>();
    w->ex = ex;
    ex->attach_upstream(*w);
    pending_.push_back(std::move(w));
    attach_waiting();
  }
}

void UpstreamConnection::fail_all(int status, Reason why, std::string_view body_line) noexcept {
  while (!pending_.empty()) {
    std::unique_ptr<Waiting> w = std::move(pending_.front());
    pending_.pop_front();
    if (w->ex == nullptr) {
      continue;
    }
    w->ex->info().upstream = address_;
    if (body_line.empty() || w->ex->response_started()) {
      w->ex->fail(status, why);
    } else {
      w->ex->detach_upstream();
      w->ex->local_reply(status, why, body_line);
    }
  }
  if (client_) {
    client_->abort(status, why);
  }
}

void UpstreamConnection::on_plaintext(std::string_view bytes) noexcept {
  if (!client_ || closing_) {
    return;
  }
  busy_ = true;
  const bool ok = client_->feed(bytes);
  busy_ = false;
  if (!ok) {
    fail_all(502, Reason::upstream_protocol_error);
    close();
    return;
  }
  if (client_->active() > 0) {
    arm_request_timer();
  }
  flush();
}

void UpstreamConnection::client_output_ready() noexcept {
  if (busy_) {
    flush_again_ = true;
    return;
  }
  flush();
}

void UpstreamConnection::client_capacity_available() noexcept {
  if (busy_) {
    flush_again_ = true;
    return;
  }
  attach_waiting();
  flush();
}

bool UpstreamConnection::client_retry(http::Exchange& ex) noexcept {
  // Same target and endpoint; this connection no longer takes streams, so the pool finds or
  // opens another.
  pool_.acquire(snap_, key_, target_, endpoint_, ex);
  return true;
}

void UpstreamConnection::flush() noexcept {
  if (closing_ || !client_) {
    return;
  }
  busy_ = true;
  std::string out;
  do {
    flush_again_ = false;
    take_queued();
    attach_waiting();
    while (socket_.writable()) {
      out.clear();
      client_->pull_output(out, 16 * 1024);
      if (out.empty()) {
        break;
      }
      socket_.send(out);
    }
  } while (flush_again_);
  busy_ = false;
  if (!client_->reusable() && client_->active() == 0 && pending_.empty()) {
    close();
    return;
  }
  if (client_->active() == 0 && pending_.empty() && pool_.has_queued(key_.origin)) {
    // Idle while requests of this origin wait for another endpoint: give them the slot.
    close();
    return;
  }
  if (client_->active() == 0 && pending_.empty()) {
    // Idle and from a retired generation: nobody will reuse it (pool keys carry the
    // generation), so close now instead of holding the old snapshot until the idle time-out.
    if (key_.generation < worker_.snapshot()->generation) {
      close();
      return;
    }
    socket_.set_timer(static_cast<std::uint64_t>(snap_->config.limits.idle_timeout.count()));
  }
  socket_.read(client_->want_read());
}

void UpstreamConnection::on_writable() noexcept { flush(); }

void UpstreamConnection::on_peer_eof() noexcept {
  if (client_) {
    client_->peer_closed();
  }
  fail_all(502, Reason::upstream_reset);
  close();
}

void UpstreamConnection::on_transport_error(int) noexcept {
  if (!ready_ && socket_.tls() != nullptr) {
    const tls::TlsStream& t = *socket_.tls();
    refuse(handshake_failure_reason(t, target_.egress), {}, t.failure_detail());
    return;
  } else {
    fail_all(502, Reason::upstream_reset);
  }
  close();
}

void UpstreamConnection::on_timeout() noexcept {
  const auto now = Clock::now();
  if (expire_deadlines(now)) {
    // gRPC deadlines passed: those requests were answered; the connection's own timers go on.
    if (closing_) {
      return;
    }
    if (ready_) {
      flush();  // closes a connection the expiry made useless (HTTP/1.1), else re-arms idle
      if (!closing_ && client_ && client_->active() > 0) {
        arm_request_timer(/*activity=*/false);
      }
      return;
    }
  }
  if (!ready_) {
    if (now < connect_deadline_) {
      arm_connect_timer();  // woken for a deadline of a request that has gone meanwhile
      return;
    }
    worker_.events().upstream_failed(target_, Reason::upstream_connect_timeout);
    traffic_result(false);
    fail_all(504, Reason::upstream_connect_timeout);
  } else if (client_ && client_->active() > 0) {
    if (uploading() != nullptr && now >= body_deadline_) {
      fail_all(408, Reason::request_body_timeout);
    } else if (now - last_activity_ >= target_.request_timeout) {
      fail_all(504, Reason::upstream_timeout);
    } else {
      arm_request_timer(/*activity=*/false);  // an upload tick, or a deadline: not due yet
      return;
    }
  }
  close();  // also the idle time-out of a pooled connection, and an abandoned upload
}

void UpstreamConnection::close() noexcept {
  if (closing_) {
    return;
  }
  closing_ = true;
  if (lookup_ != nullptr) {
    lookup_->cancel();  // its callback will not run
    lookup_ = nullptr;
  }
  socket_.close();
}

void UpstreamConnection::on_closed() noexcept {
  fail_all(502, Reason::upstream_reset);
  client_.reset();
  pool_.connection_closed(this);
  delete this;
}

}  // namespace portcullis::gateway::upstream
