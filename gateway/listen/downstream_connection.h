// DownstreamConnection: one accepted client socket, from accept to close.
//
// Thread:   the owning Worker's loop thread only.
// Owns:     socket_ (TCP + TLS), session_ (HTTP/1.1 or HTTP/2, chosen by ALPN), and a pin on the
//           Snapshot it was accepted under: a reload never changes what this connection sees.
// Lifetime: created by Listener on accept; deletes itself in on_closed(), after every libuv
//           handle and write callback has run. Nothing else deletes it.
// Order:    session_ is declared after socket_ so it is destroyed first.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/egress/tunnel_session.h"
#include "gateway/http/session.h"
#include "gateway/io/socket.h"
#include "gateway/snapshot/snapshot.h"
#include "gateway/upstream/worker_context.h"

namespace portcullis::gateway::listen {

enum class DownstreamState : std::uint8_t {
  reading_proxy_header,  // proxy_protocol listeners: before TLS
  tls_handshake,
  serving,   // session attached; requests flow
  draining,  // GOAWAY / Connection: close sent
  closing,   // close issued; waiting for handle callbacks
};
std::string_view to_string(DownstreamState s) noexcept;

class DownstreamConnection final : public io::SocketOwner,
                                   public http::SessionOwner,
                                   public egress::TunnelClient,
                                   public upstream::Tracked {
 public:
  DownstreamConnection(upstream::WorkerContext& worker, runtime::SnapshotPtr snapshot,
                       const runtime::ListenerRuntime& listener);
  ~DownstreamConnection() override;

  io::TlsSocket& socket() noexcept { return socket_; }
  const http::ConnFacts& facts() const noexcept { return facts_; }
  // Called once the TCP accept succeeded.
  void start() noexcept;
  // Graceful: finish in-flight requests, then close.
  void drain() noexcept override;
  // The drain time-out ran out: close now.
  void abort() noexcept override { close(Reason::draining); }
  // Called by the worker on the loop turn after output_ready().
  void flush_deferred() noexcept override { flush(); }

  // SocketOwner
  void on_handshake_done() noexcept override;
  void on_plaintext(std::string_view bytes) noexcept override;
  void on_peer_eof() noexcept override;
  void on_transport_error(int uv_status) noexcept override;
  void on_writable() noexcept override;
  void on_timeout() noexcept override;
  void on_closed() noexcept override;

  // TunnelClient (the CONNECT front half, egress::TunnelSession)
  void send_to_client(std::string_view bytes) noexcept override { socket_.send(bytes); }
  bool client_writable() const noexcept override { return socket_.writable(); }
  void read_client(bool on) noexcept override { socket_.read(on); }
  void client_activity() noexcept override;
  void end_after_output(Reason why) noexcept override;
  void close_now(Reason why) noexcept override { close(why); }

  // SessionOwner
  void start_exchange(http::Exchange& ex) noexcept override;
  void exchange_done(http::Exchange& ex) noexcept override;
  void output_ready() noexcept override;
  void request_rejected(int status, Reason why) noexcept override;

 private:
  void flush() noexcept;
  void close(Reason why) noexcept;
  void handshake_failed() noexcept;
  void route(http::Exchange& ex);
  bool egress_listener() const noexcept;
  void begin_transport() noexcept;
  void on_proxy_bytes(std::string_view bytes) noexcept;
  void proxy_rejected(Reason why, std::string_view detail) noexcept;
  // Takes a slot of a [limits] connection cap; false (and the connection closes) when full.
  bool take_slot(std::string key, std::uint32_t cap, Reason why) noexcept;
  void arm_timer() noexcept;
  void request_timed_out() noexcept;
  void start_plain_egress() noexcept;
  void start_plain_http() noexcept;

  upstream::WorkerContext& worker_;
  runtime::SnapshotPtr snapshot_;
  const runtime::ListenerRuntime& listener_;
  const runtime::TenantRuntime* tenant_ = nullptr;
  bool tenant_by_fallback_ = false;
  using Clock = std::chrono::steady_clock;
  Clock::time_point header_deadline_{};  // unset: no request head in progress
  std::string source_identity_;  // egress listeners: the workload's SPIFFE ID
  std::string proxy_buffer_;     // PROXY header bytes until parsed (bounded by the parser)
  std::vector<std::string> slots_;  // connection-cap keys held; released in on_closed
  // WebSockets holding a [limits] tenant_upgraded_connections slot; released in exchange_done.
  std::vector<const http::Exchange*> upgraded_;
  // HTTP/1.1 on egress listeners: decides on the first bytes whether this is a CONNECT tunnel.
  std::unique_ptr<egress::TunnelSession> tunnel_;
  DownstreamState state_ = DownstreamState::tls_handshake;
  Reason close_reason_ = Reason::none;
  http::ConnFacts facts_;
  io::TlsSocket socket_;
  std::unique_ptr<http::Session> session_;
  bool busy_ = false;        // inside a session call: defer flushes
  bool first_request_grace_ = false;  // drained before its first request (drain())
  bool flush_again_ = false;
};

}  // namespace portcullis::gateway::listen
