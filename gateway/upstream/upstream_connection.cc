#include "gateway/upstream/upstream_connection.h"

#include <cstring>

#include "gateway/runtime/server.h"
#include "gateway/runtime/worker.h"
#include "tls/verify.h"

namespace portcullis::gateway::upstream {

// An exchange waiting for the connection to become ready. While it waits it is the exchange's
// UpstreamSide, so a client that goes away is forgotten at once.
struct UpstreamConnection::Waiting final : http::UpstreamSide {
  http::Exchange* ex = nullptr;
  void on_request_body(http::Exchange&) noexcept override {}  // stays buffered (bounded)
  void on_response_body_consumed(http::Exchange&, std::size_t) noexcept override {}
  void on_downstream_abort(http::Exchange&) noexcept override { ex = nullptr; }
};

UpstreamConnection::UpstreamConnection(runtime::Worker& worker, Pool& pool, PoolKey key,
                                       runtime::SnapshotPtr snap,
                                       const runtime::ClusterRuntime& cluster,
                                       const io::HostPort& endpoint)
    : worker_(worker),
      pool_(pool),
      key_(key),
      snap_(std::move(snap)),
      cluster_(cluster),
      endpoint_(endpoint),
      socket_(worker.loop(), *this) {}

UpstreamConnection::~UpstreamConnection() = default;

bool UpstreamConnection::http2() const noexcept {
  return cluster_.cfg->protocol == config::ClusterConfig::Protocol::h2;
}

void UpstreamConnection::start() noexcept {
  sockaddr_storage addr{};
  socket_.set_timer(static_cast<std::uint64_t>(cluster_.cfg->connect_timeout.count()));
  if (io::parse_ip(endpoint_.host, endpoint_.port, addr)) {
    connect_to(reinterpret_cast<const sockaddr*>(&addr));
    return;
  }
  // Host names resolve on libuv's thread pool, never on the loop.
  resolving_ = new uv_getaddrinfo_t{};
  resolving_->data = this;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const std::string port = std::to_string(endpoint_.port);
  const int rc = uv_getaddrinfo(worker_.loop(), resolving_, &UpstreamConnection::on_resolved,
                                endpoint_.host.c_str(), port.c_str(), &hints);
  if (rc != 0) {
    delete resolving_;
    resolving_ = nullptr;
    fail_all(502, Reason::upstream_connect_failed);
    close();
  }
}

void UpstreamConnection::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) noexcept {
  auto* self = static_cast<UpstreamConnection*>(req->data);
  delete req;
  if (self == nullptr) {  // the connection closed while we were resolving
    uv_freeaddrinfo(res);
    return;
  }
  self->resolving_ = nullptr;
  if (status != 0 || res == nullptr) {
    uv_freeaddrinfo(res);
    self->fail_all(502, Reason::upstream_connect_failed);
    self->close();
    return;
  }
  self->connect_to(res->ai_addr);
  uv_freeaddrinfo(res);
}

void UpstreamConnection::connect_to(const sockaddr* addr) noexcept {
  address_ = io::to_string(addr);
  const int rc = socket_.connect(addr);
  if (rc != 0) {
    fail_all(502, Reason::upstream_connect_failed);
    close();
  }
}

void UpstreamConnection::on_connected(int status) noexcept {
  if (status != 0) {
    worker_.server().upstream_event(cluster_, address_, "connect_failed", uv_strerror(status));
    fail_all(502, Reason::upstream_connect_failed);
    close();
    return;
  }
  if (cluster_.cfg->plaintext) {
    client_ = http2() ? make_http2_client(*this) : make_http1_client(*this);
    ready_ = true;
    socket_.read(true);
    socket_.set_timer(0);
    attach_waiting();
    flush();
    return;
  }
  tls::SslPtr ssl{SSL_new(cluster_.client_ctx)};
  if (!ssl) {
    fail_all(502, Reason::upstream_tls_failed);
    close();
    return;
  }
  if (!cluster_.cfg->server_name.empty()) {
    SSL_set_tlsext_host_name(ssl.get(), cluster_.cfg->server_name.c_str());
  }
  socket_.set_tls(std::move(ssl), tls::Role::client);
  socket_.read(true);
}

void UpstreamConnection::on_handshake_done() noexcept {
  SSL* ssl = socket_.tls()->ssl();
  X509* leaf = SSL_get0_peer_certificate(ssl);
  const config::ClusterConfig& cfg = *cluster_.cfg;
  const std::string seen = leaf != nullptr ? tls::peer_identity(leaf) : std::string{};
  const bool ok = leaf != nullptr && (!cfg.identity.empty()
                                          ? tls::has_uri_san(leaf, cfg.identity)
                                          : tls::matches_dns_name(leaf, cfg.server_name));
  if (!ok) {
    worker_.server().mtls_failed(cluster_, address_, "identity_mismatch", seen);
    fail_all(502, Reason::upstream_identity_mismatch);
    close();
    return;
  }
  const std::string& alpn = socket_.tls()->summary().alpn;
  if (http2() && alpn != "h2") {
    worker_.server().mtls_failed(cluster_, address_, "alpn_h2_refused", seen);
    fail_all(502, Reason::upstream_protocol_error);
    close();
    return;
  }
  client_ = http2() ? make_http2_client(*this) : make_http1_client(*this);
  ready_ = true;
  socket_.set_timer(0);
  attach_waiting();
  flush();
}

bool UpstreamConnection::has_room() const noexcept {
  if (closing_) {
    return false;
  }
  if (!ready_) {
    return http2() ? pending_.size() < 100 : pending_.empty();
  }
  return pending_.empty() && client_->reusable() && client_->can_take();
}

void UpstreamConnection::add(http::Exchange& ex) noexcept {
  auto w = std::make_unique<Waiting>();
  w->ex = &ex;
  ex.attach_upstream(*w);
  pending_.push_back(std::move(w));
  if (ready_) {
    attach_waiting();
    flush();
  }
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
    if (socket_.tls() != nullptr) {
      ex.info().upstream_identity = socket_.tls()->summary().peer_identity;
    }
    busy_ = true;
    client_->attach(ex);
    busy_ = false;
  }
  if (client_ && client_->active() > 0) {
    socket_.set_timer(static_cast<std::uint64_t>(cluster_.cfg->request_timeout.count()));
  }
}

void UpstreamConnection::fail_all(int status, Reason why) noexcept {
  while (!pending_.empty()) {
    std::unique_ptr<Waiting> w = std::move(pending_.front());
    pending_.pop_front();
    if (w->ex != nullptr) {
      w->ex->info().upstream = address_;
      w->ex->fail(status, why);
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
    socket_.set_timer(static_cast<std::uint64_t>(cluster_.cfg->request_timeout.count()));
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

void UpstreamConnection::flush() noexcept {
  if (closing_ || !client_) {
    return;
  }
  busy_ = true;
  std::string out;
  do {
    flush_again_ = false;
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
  socket_.read(client_->want_read());
  if (client_->active() == 0 && pending_.empty()) {
    socket_.set_timer(static_cast<std::uint64_t>(snap_->config.limits.idle_timeout.count()));
  }
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
    worker_.server().mtls_failed(cluster_, address_, std::string(tls::to_string(t.failure())),
                                 t.failure_detail());
    fail_all(502, Reason::upstream_tls_failed);
  } else {
    fail_all(502, Reason::upstream_reset);
  }
  close();
}

void UpstreamConnection::on_timeout() noexcept {
  if (!ready_) {
    worker_.server().upstream_event(cluster_, address_, "connect_timeout", "");
    fail_all(504, Reason::upstream_timeout);
  } else if (client_ && client_->active() > 0) {
    fail_all(504, Reason::upstream_timeout);
  }
  close();  // also the idle time-out of a pooled connection
}

void UpstreamConnection::close() noexcept {
  if (closing_) {
    return;
  }
  closing_ = true;
  if (resolving_ != nullptr) {
    resolving_->data = nullptr;  // on_resolved frees it
    resolving_ = nullptr;
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
