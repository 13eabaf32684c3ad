// TlsSocket: the one piece of libuv glue under every connection: a uv_tcp_t, an optional
// tls::TlsStream on top of it, a write backlog with watermarks, and one timer.
//
// Thread:   one worker loop.
// Owner:    a DownstreamConnection or UpstreamConnection (the SocketOwner). The owner must keep
//           the TlsSocket alive until SocketOwner::on_closed(); after that it may delete both.
// Flow:     bytes read are decrypted (when TLS is set) and handed to on_plaintext(). send() encrypts
//           and queues; on_writable() fires when the backlog drains below the low watermark.
//           No callback into the owner happens after close() except on_closed().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <uv.h>

#include "tls/stream.h"

namespace portcullis::gateway::io {

// Default write backlog before backpressure; owners set [limits] buffer_per_direction.
inline constexpr std::size_t kWriteHighWatermark = 64 * 1024;
inline constexpr std::size_t kReadChunk = 64 * 1024;

class SocketOwner {
 public:
  virtual ~SocketOwner() = default;
  virtual void on_connected(int status) noexcept { (void)status; }  // client sockets
  virtual void on_handshake_done() noexcept = 0;
  virtual void on_plaintext(std::string_view bytes) noexcept = 0;
  virtual void on_peer_eof() noexcept = 0;                 // FIN or close_notify
  virtual void on_transport_error(int uv_status) noexcept = 0;  // read/write error, TLS failure
  virtual void on_writable() noexcept = 0;                 // backlog below the low watermark
  virtual void on_timeout() noexcept = 0;
  virtual void on_closed() noexcept = 0;                   // every handle closed
};

class TlsSocket {
 public:
  TlsSocket(uv_loop_t* loop, SocketOwner& owner);
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;

  uv_tcp_t* tcp() noexcept { return &tcp_; }
  uv_stream_t* stream() noexcept { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  int connect(const sockaddr* addr) noexcept;
  // Turns TLS on; a client starts its handshake right away.
  void set_tls(tls::SslPtr ssl, tls::Role role);
  tls::TlsStream* tls() noexcept { return tls_ ? &*tls_ : nullptr; }

  void read(bool on) noexcept;  // start/stop reading (idempotent)
  bool reading() const noexcept { return reading_; }
  // Processes bytes as if they had just been read (the rest of a PROXY header's buffer).
  void inject(std::string_view bytes) noexcept {
    if (tls_) {
      handle_ciphertext(bytes);
    } else {
      owner_.on_plaintext(bytes);
    }
  }
  // Encrypts (when TLS) and queues bytes; false after a failure.
  bool send(std::string_view plaintext) noexcept;
  // Queues close_notify (TLS) and/or shuts the write side after the backlog.
  void shutdown_write() noexcept;
  std::size_t backlog() const noexcept { return backlog_; }
  bool writable() const noexcept { return backlog_ < high_watermark_; }
  // Past this write backlog writable() is false until it drains to half ([limits]
  // buffer_per_direction).
  void set_high_watermark(std::size_t bytes) noexcept { high_watermark_ = bytes; }
  std::size_t high_watermark() const noexcept { return high_watermark_; }

  // on_timeout() fires `ms` from now (loop time) unless re-armed or stopped first; 0 stops.
  void set_timer(std::uint64_t ms) noexcept;
  void close() noexcept;
  bool closing() const noexcept { return closing_; }

  std::string peer_address() const;  // "ip:port"

 private:
  static void on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) noexcept;
  static void on_read(uv_stream_t*, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void on_write(uv_write_t* req, int status) noexcept;
  static void on_connect(uv_connect_t* req, int status) noexcept;
  static void on_timer(uv_timer_t*) noexcept;
  static void on_handle_closed(uv_handle_t*) noexcept;
  void handle_ciphertext(std::string_view bytes) noexcept;
  void flush_tls() noexcept;
  void queue_write(std::string data) noexcept;
  void maybe_done() noexcept;
  // A server handshake paused for its tenant's context (tls/context_builder.h): a uv_async_t,
  // made at the first pause, wakes this loop when the build lands.
  class Resume;
  void pause_for_context() noexcept;
  static void on_resume(uv_async_t*) noexcept;

  SocketOwner& owner_;
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  uv_connect_t connect_req_{};
  std::optional<tls::TlsStream> tls_;
  std::shared_ptr<Resume> resume_;  // the builder holds it weakly: gone or closed, it is skipped
  std::uint64_t deadline_ = 0;  // loop time (ms) on_timeout() is due; 0: none
  std::size_t backlog_ = 0;
  std::size_t high_watermark_ = kWriteHighWatermark;
  int writes_in_flight_ = 0;
  int open_handles_ = 2;
  bool reading_ = false;
  bool closing_ = false;
  bool eof_seen_ = false;
  bool shutdown_pending_ = false;
  bool paused_ = false;  // registered with the builder, not yet woken
};

}  // namespace portcullis::gateway::io
