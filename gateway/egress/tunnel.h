// Tunnel: the upstream half of an egress CONNECT tunnel (an [[egress]] entry with
// mode = "tunnel"), for workloads that must do their own TLS.
//
// The downstream connection parses the CONNECT, checks the policy and later the tunnelled
// ClientHello's SNI; the Tunnel resolves and checks the destination exactly like origination
// (own resolver, refused address classes, connect to the checked address), then relays bytes.
// Thread:   one worker loop.
// Lifetime: deletes itself once its socket closed. The peer calls detach_and_close() when it
//           goes away first; after that the Tunnel never calls the peer again.
#pragma once

#include <string>
#include <string_view>

#include "gateway/egress/destination.h"
#include "gateway/io/socket.h"

namespace portcullis::gateway::egress {

class TunnelPeer {
 public:
  virtual ~TunnelPeer() = default;
  virtual void tunnel_connected(const std::string& address) noexcept = 0;
  // Before the connection existed: resolution, address class or connect failure.
  virtual void tunnel_failed(int status, Reason why, Reason audit_reason,
                             const std::string& detail) noexcept = 0;
  virtual void tunnel_data(std::string_view bytes) noexcept = 0;
  virtual void tunnel_writable() noexcept = 0;
  virtual void tunnel_closed() noexcept = 0;  // after tunnel_connected
};

class Tunnel final : public io::SocketOwner {
 public:
  static Tunnel* open(uv_loop_t* loop, const std::string& resolver, const Destination& dest,
                      bool allow_private, TunnelPeer& peer,
                      std::size_t buffer = io::kWriteHighWatermark);  // buffer_per_direction

  void send(std::string_view bytes) noexcept { socket_.send(bytes); }
  bool writable() const noexcept { return socket_.writable(); }
  void read(bool on) noexcept { socket_.read(on); }
  void detach_and_close() noexcept;

  // SocketOwner
  void on_connected(int status) noexcept override;
  void on_handshake_done() noexcept override {}
  void on_plaintext(std::string_view bytes) noexcept override;
  void on_peer_eof() noexcept override { finish(); }
  void on_transport_error(int) noexcept override { finish(); }
  void on_writable() noexcept override;
  void on_timeout() noexcept override { finish(); }
  void on_closed() noexcept override { delete this; }

 private:
  Tunnel(uv_loop_t* loop, TunnelPeer& peer) : socket_(loop, *this), peer_(&peer) {}
  void start(const std::string& resolver, const Destination& dest, bool allow_private);
  void finish() noexcept;

  io::TlsSocket socket_;  // plain TCP: the workload's own TLS goes through untouched
  TunnelPeer* peer_;
  Lookup* lookup_ = nullptr;
  std::string address_;
  bool connected_ = false;
};

}  // namespace portcullis::gateway::egress
