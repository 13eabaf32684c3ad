#include "gateway/io/socket.h"

#include <cstdlib>
#include <mutex>
#include <new>

#include "gateway/io/uv.h"
#include "tls/context_builder.h"

namespace portcullis::gateway::io {
namespace {

struct WriteReq {
  uv_write_t req;
  TlsSocket* socket;
  std::string data;
};

// Write requests are recycled per loop thread (two per proxied request, each a malloc and a
// free otherwise). A few are kept, never their data.
struct WriteReqCache {
  static constexpr std::size_t kKeep = 32;
  WriteReq* free[kKeep] = {};
  std::size_t count = 0;
  ~WriteReqCache() {
    while (count > 0) {
      delete free[--count];
    }
  }
  WriteReq* take() {
    return count > 0 ? free[--count] : new WriteReq{};
  }
  void give(WriteReq* w) noexcept {
    std::string().swap(w->data);
    if (count < kKeep) {
      free[count++] = w;
    } else {
      delete w;
    }
  }
};
thread_local WriteReqCache t_write_reqs;

struct ShutdownReq {
  uv_shutdown_t req;
};

// One read buffer per loop thread: on_read consumes it before returning.
thread_local char t_read_buffer[kReadChunk];

// Decrypted bytes, one buffer per loop thread: a per-connection buffer either stays allocated
// while the connection idles or is allocated and freed on every read (two mallocs and frees
// per proxied request). on_plaintext() may, in principle, lead to another socket's read on the
// same thread: a nested call then uses a buffer of its own.
thread_local std::string t_plain;
thread_local bool t_plain_busy = false;
constexpr std::size_t kPlainKeep = 256 * 1024;  // past this, give the memory back

class PlainScratch {
 public:
  PlainScratch() : owner_(!t_plain_busy) {
    if (owner_) {
      t_plain_busy = true;
      t_plain.clear();
    }
  }
  ~PlainScratch() {
    if (owner_) {
      t_plain_busy = false;
      if (t_plain.capacity() > kPlainKeep) {
        std::string().swap(t_plain);
      }
    }
  }
  PlainScratch(const PlainScratch&) = delete;
  PlainScratch& operator=(const PlainScratch&) = delete;
  std::string& get() noexcept { return owner_ ? t_plain : nested_; }

 private:
  bool owner_;
  std::string nested_;
};

}  // namespace

// Owned by the socket; a builder thread holds it only while waking it. `open` turns false (under
// the lock) before the handle is closed, so no uv_async_send reaches a closing handle.
class TlsSocket::Resume final : public tls::BuildWaiter {
 public:
  void ready() noexcept override {
    std::lock_guard lock(mu);
    if (open) {
      uv_async_send(&async);
    }
  }
  std::mutex mu;
  uv_async_t async{};
  bool open = false;
};

TlsSocket::TlsSocket(uv_loop_t* loop, SocketOwner& owner) : owner_(owner) {
  uv_tcp_init(loop, &tcp_);
  uv_timer_init(loop, &timer_);
  tcp_.data = this;
  timer_.data = this;
  connect_req_.data = this;
}

int TlsSocket::connect(const sockaddr* addr) noexcept {
  uv_tcp_nodelay(&tcp_, 1);
  return uv_tcp_connect(&connect_req_, &tcp_, addr, &TlsSocket::on_connect);
}

void TlsSocket::on_connect(uv_connect_t* req, int status) noexcept {
  auto* self = static_cast<TlsSocket*>(req->data);
  if (self->closing_) {
    return;
  }
  self->owner_.on_connected(status);
}

void TlsSocket::set_tls(tls::SslPtr ssl, tls::Role role) {
  tls_.emplace(std::move(ssl), role);
  if (role == tls::Role::server) {
    tls_->enable_context_wait();
  }
  if (role == tls::Role::client) {
    tls_->start();
    flush_tls();
  }
}

void TlsSocket::read(bool on) noexcept {
  if (closing_ || eof_seen_ || on == reading_) {
    return;
  }
  reading_ = on;
  if (on) {
    uv_read_start(stream(), &TlsSocket::on_alloc, &TlsSocket::on_read);
  } else {
    uv_read_stop(stream());
  }
}

void TlsSocket::on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) noexcept {
  *buf = uv_buf_init(t_read_buffer, sizeof t_read_buffer);
}

void TlsSocket::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto& self = owner_of<TlsSocket>(s);
  if (self.closing_ || nread == 0) {
    return;
  }
  if (nread == UV_EOF) {
    self.eof_seen_ = true;
    self.reading_ = false;
    uv_read_stop(s);
    self.owner_.on_peer_eof();
    return;
  }
  if (nread < 0) {
    self.owner_.on_transport_error(static_cast<int>(nread));
    return;
  }
  const std::string_view bytes(buf->base, static_cast<std::size_t>(nread));
  if (!self.tls_) {
    self.owner_.on_plaintext(bytes);
    return;
  }
  self.handle_ciphertext(bytes);
}

void TlsSocket::handle_ciphertext(std::string_view bytes) noexcept {
  tls::TlsStream& t = *tls_;
  tls::Progress p;
  PlainScratch scratch;
  std::string& plain = scratch.get();
  if (t.established()) {
    p = t.read(bytes, plain);  // no copy of the ciphertext (feed() would keep one)
  } else {
    p = t.feed(bytes);
    flush_tls();  // handshake records, alerts
    if (p == tls::Progress::failed) {
      owner_.on_transport_error(UV_EPROTO);
      return;
    }
    if (!t.established()) {
      if (t.waiting_for_context() && !paused_) {
        pause_for_context();
      }
      return;
    }
    owner_.on_handshake_done();
    if (closing_) {
      return;
    }
    p = t.read(plain);
  }
  flush_tls();  // TLS 1.3 key updates, tickets
  if (!plain.empty()) {
    owner_.on_plaintext(plain);
    if (closing_) {
      return;
    }
  }
  if (p == tls::Progress::peer_closed) {
    eof_seen_ = true;
    read(false);
    owner_.on_peer_eof();
  } else if (p == tls::Progress::failed) {
    owner_.on_transport_error(UV_EPROTO);
  }
}

void TlsSocket::pause_for_context() noexcept {
  if (!resume_) {
    auto r = std::make_shared<Resume>();
    if (uv_async_init(tcp_.loop, &r->async, &TlsSocket::on_resume) != 0) {
      owner_.on_transport_error(UV_ENOMEM);
      return;
    }
    r->async.data = this;
    r->open = true;
    ++open_handles_;
    resume_ = std::move(r);
  }
  paused_ = true;
  // The handshake timer keeps running: a build that outlasts it closes the connection, and
  // the waker then finds `open` false.
  tls::ContextBuilder::instance().notify(*tls_->waited_context(), resume_);
}

void TlsSocket::on_resume(uv_async_t* a) noexcept {
  auto& self = owner_of<TlsSocket>(a);
  if (self.closing_ || !self.paused_) {
    return;
  }
  self.paused_ = false;
  self.tls_->context_ready();
  self.handle_ciphertext({});  // SSL_do_handshake again: the callback finds the context warm
}

bool TlsSocket::send(std::string_view plaintext) noexcept {
  if (closing_) {
    return false;
  }
  if (plaintext.empty()) {
    return true;
  }
  if (!tls_) {
    queue_write(std::string(plaintext));
    return true;
  }
  if (!tls_->write(plaintext)) {
    return false;
  }
  flush_tls();
  return true;
}

void TlsSocket::flush_tls() noexcept {
  if (!tls_ || !tls_->has_output()) {
    return;
  }
  std::string out;
  tls_->take_output(out);
  queue_write(std::move(out));
}

void TlsSocket::queue_write(std::string data) noexcept {
  if (closing_ || data.empty()) {
    return;
  }
  WriteReq* w;
  try {
    w = t_write_reqs.take();
  } catch (const std::bad_alloc&) {
    owner_.on_transport_error(UV_ENOMEM);
    return;
  }
  w->socket = this;
  w->data = std::move(data);
  w->req.data = w;
  const uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  backlog_ += w->data.size();
  ++writes_in_flight_;
  const int rc = uv_write(&w->req, stream(), &buf, 1, &TlsSocket::on_write);
  if (rc != 0) {
    --writes_in_flight_;
    backlog_ -= w->data.size();
    t_write_reqs.give(w);
    owner_.on_transport_error(rc);
  }
}

void TlsSocket::on_write(uv_write_t* req, int status) noexcept {
  auto* w = static_cast<WriteReq*>(req->data);
  TlsSocket& self = *w->socket;
  const std::size_t n = w->data.size();
  t_write_reqs.give(w);
  --self.writes_in_flight_;
  const bool was_high = self.backlog_ >= self.high_watermark_;
  self.backlog_ -= n;
  if (self.closing_) {
    self.maybe_done();
    return;
  }
  if (status < 0) {
    self.owner_.on_transport_error(status);
    return;
  }
  if (self.shutdown_pending_ && self.writes_in_flight_ == 0) {
    self.shutdown_pending_ = false;
    auto* sr = new ShutdownReq{};
    if (uv_shutdown(&sr->req, self.stream(), [](uv_shutdown_t* r, int) {
          delete reinterpret_cast<ShutdownReq*>(r);
        }) != 0) {
      delete sr;
    }
  }
  if (was_high ? self.backlog_ < self.high_watermark_ / 2 : self.backlog_ == 0) {
    self.owner_.on_writable();
  }
}

void TlsSocket::shutdown_write() noexcept {
  if (closing_) {
    return;
  }
  if (tls_) {
    tls_->shutdown();
    flush_tls();
  }
  shutdown_pending_ = true;
  if (writes_in_flight_ == 0) {
    shutdown_pending_ = false;
    auto* sr = new ShutdownReq{};
    if (uv_shutdown(&sr->req, stream(), [](uv_shutdown_t* r, int) {
          delete reinterpret_cast<ShutdownReq*>(r);
        }) != 0) {
      delete sr;
    }
  }
}

// Every request re-arms the timer several times (reads, writes, request start and end), nearly
// always to a later time. uv_timer_start is a heap removal and insertion each time (five per
// proxied request, ~1.7k instructions): instead a later deadline is only recorded, and
// on_timer, finding it early, re-arms for the rest. An earlier deadline re-arms at once.
void TlsSocket::set_timer(std::uint64_t ms) noexcept {
  if (closing_) {
    return;
  }
  if (ms == 0) {
    deadline_ = 0;
    uv_timer_stop(&timer_);
    return;
  }
  const std::uint64_t due = uv_now(timer_.loop) + ms;
  const bool armed = uv_is_active(reinterpret_cast<const uv_handle_t*>(&timer_)) != 0;
  deadline_ = due;
  if (armed && uv_timer_get_due_in(&timer_) <= ms) {
    return;  // fires first; on_timer re-arms for the remainder
  }
  uv_timer_start(&timer_, &TlsSocket::on_timer, ms, 0);
}

void TlsSocket::on_timer(uv_timer_t* t) noexcept {
  auto& self = owner_of<TlsSocket>(t);
  if (self.closing_) {
    return;
  }
  const std::uint64_t now = uv_now(t->loop);
  if (self.deadline_ > now) {
    uv_timer_start(t, &TlsSocket::on_timer, self.deadline_ - now, 0);
    return;
  }
  self.deadline_ = 0;
  self.owner_.on_timeout();
}

void TlsSocket::close() noexcept {
  if (closing_) {
    return;
  }
  closing_ = true;
  reading_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &TlsSocket::on_handle_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &TlsSocket::on_handle_closed);
  if (resume_) {
    {
      std::lock_guard lock(resume_->mu);
      resume_->open = false;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&resume_->async), &TlsSocket::on_handle_closed);
  }
}

void TlsSocket::on_handle_closed(uv_handle_t* h) noexcept {
  auto& self = owner_of<TlsSocket>(h);
  --self.open_handles_;
  self.maybe_done();
}

void TlsSocket::maybe_done() noexcept {
  // Pending writes complete (UV_ECANCELED) before the close callback, but count anyway.
  if (open_handles_ == 0 && writes_in_flight_ == 0) {
    owner_.on_closed();
  }
}

std::string TlsSocket::peer_address() const {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return "";
  }
  return to_string(reinterpret_cast<const sockaddr*>(&ss));
}

}  // namespace portcullis::gateway::io
