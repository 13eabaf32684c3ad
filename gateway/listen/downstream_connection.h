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

#include "gateway/egress/tunnel.h"
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

// Egress CONNECT tunnels (HTTP/1.1 only): decided on the first bytes of the connection.
enum class TunnelPhase : std::uint8_t {
  undecided,       // egress listener, fewer than 8 bytes seen
  none,            // ordinary HTTP: the session gets every byte
  reading_connect, // the CONNECT head is arriving
  connecting,      // policy passed; the destination resolves and connects
  awaiting_hello,  // 200 sent; the client's ClientHello must name the CONNECT host
  relaying,
};

class DownstreamConnection final : public io::SocketOwner,
                                   public http::SessionOwner,
                                   public egress::TunnelPeer,
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

  // TunnelPeer
  void tunnel_connected(const std::string& address) noexcept override;
  void tunnel_failed(int status, Reason why, Reason audit_reason,
                     const std::string& detail) noexcept override;
  void tunnel_data(std::string_view bytes) noexcept override;
  void tunnel_writable() noexcept override;
  void tunnel_closed() noexcept override;

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
  // Egress tunnels: returns true when the bytes were taken by the tunnel path.
  bool tunnel_bytes(std::string_view bytes) noexcept;
  void start_tunnel() noexcept;
  void check_hello() noexcept;
  void tunnel_refuse(int status, Reason why, Reason audit_reason,
                     const std::string& detail) noexcept;
  void arm_timer() noexcept;
  void request_timed_out() noexcept;
  void start_plain_egress() noexcept;

  upstream::WorkerContext& worker_;
  runtime::SnapshotPtr snapshot_;
  const runtime::ListenerRuntime& listener_;
  const runtime::TenantRuntime* tenant_ = nullptr;
  bool tenant_by_fallback_ = false;
  using Clock = std::chrono::steady_clock;
  Clock::time_point header_deadline_{};  // unset: no request head in progress
  std::string source_identity_;
  std::string proxy_buffer_;
  std::vector<std::string> slots_;
  TunnelPhase tunnel_phase_ = TunnelPhase::none;
  std::string tunnel_buffer_;      // CONNECT head, then the ClientHello, until relaying
  egress::Destination tunnel_dest_;
  egress::Tunnel* tunnel_ = nullptr;  // deletes itself; detached in close()  // connection-cap keys held; released in on_closed  // PROXY header bytes until parsed (bounded by the parser)  // egress listeners: the workload's SPIFFE ID
  DownstreamState state_ = DownstreamState::tls_handshake;
  Reason close_reason_ = Reason::none;
  http::ConnFacts facts_;
  io::TlsSocket socket_;
  std::unique_ptr<http::Session> session_;
  bool busy_ = false;        // inside a session call: defer flushes
  bool flush_again_ = false;
};

}  // namespace portcullis::gateway::listen
