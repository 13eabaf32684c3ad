// TunnelSession: the front half of an egress CONNECT tunnel on a downstream connection (HTTP/1.1
// egress listeners only): decide on the first bytes whether this is a CONNECT, read its head,
// check the policy, open the Tunnel to the checked address, answer 200, check that the tunnelled
// ClientHello names the CONNECT host, then relay bytes both ways.
//
// The connection it runs on is reached only through TunnelClient, so the connection keeps its
// lifecycle (TLS, timers, close) and this class keeps the tunnel's.
// Thread:   the connection's worker loop.
// Lifetime: owned by the connection; detach() (from the connection's close) lets the Tunnel go,
//           and after it the session never calls the client again. Destroyed only outside its
//           own calls (the connection's on_closed).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/egress/tunnel.h"
#include "gateway/snapshot/snapshot.h"
#include "gateway/upstream/worker_context.h"

namespace portcullis::gateway::egress {

enum class TunnelPhase : std::uint8_t {
  undecided,       // fewer than 8 bytes seen
  none,            // ordinary HTTP: the HTTP session gets every byte
  reading_connect, // the CONNECT head is arriving
  connecting,      // policy passed; the destination resolves and connects (or: refused)
  awaiting_hello,  // 200 sent; the client's ClientHello must name the CONNECT host
  relaying,
};

// What the session needs from the downstream connection.
class TunnelClient {
 public:
  virtual ~TunnelClient() = default;
  virtual void send_to_client(std::string_view bytes) noexcept = 0;
  virtual bool client_writable() const noexcept = 0;
  virtual void read_client(bool on) noexcept = 0;
  virtual void client_activity() noexcept = 0;      // relayed bytes: the idle timer restarts
  virtual void end_after_output(Reason why) noexcept = 0;  // close once the output has left
  virtual void close_now(Reason why) noexcept = 0;
};

class TunnelSession final : public TunnelPeer {
 public:
  TunnelSession(upstream::WorkerContext& worker, const runtime::Snapshot& snap,
                std::string source_identity, TunnelClient& client);
  ~TunnelSession() override;
  TunnelSession(const TunnelSession&) = delete;
  TunnelSession& operator=(const TunnelSession&) = delete;

  // Bytes from the client. False: not a CONNECT; take_buffered() holds every byte seen so far
  // and they belong to the HTTP session from here on.
  bool feed(std::string_view bytes) noexcept;
  std::string take_buffered() noexcept;
  // True from the first CONNECT byte on: the HTTP session never sees this connection's bytes.
  bool active() const noexcept { return phase_ > TunnelPhase::none; }
  bool deciding() const noexcept { return phase_ == TunnelPhase::undecided; }
  TunnelPhase phase() const noexcept { return phase_; }
  // The client socket drained its backlog.
  void client_drained() noexcept;
  // The connection is closing: close the Tunnel, never call the client again.
  void detach() noexcept;

  // TunnelPeer
  void tunnel_connected(const std::string& address) noexcept override;
  void tunnel_failed(int status, Reason why, Reason audit_reason,
                     const std::string& detail) noexcept override;
  void tunnel_data(std::string_view bytes) noexcept override;
  void tunnel_writable() noexcept override;
  void tunnel_closed() noexcept override;

 private:
  void start() noexcept;
  void check_hello() noexcept;
  void refuse(int status, Reason why, Reason audit_reason, const std::string& detail) noexcept;

  upstream::WorkerContext& worker_;
  const runtime::Snapshot& snap_;  // pinned by the connection, which outlives this session
  std::string source_;
  TunnelClient* client_;  // null after detach()
  TunnelPhase phase_ = TunnelPhase::undecided;
  std::string buffer_;  // the CONNECT head, then the ClientHello, until relaying
  Destination dest_;
  Tunnel* tunnel_ = nullptr;  // deletes itself; detached in detach()
  bool failed_ = false;       // the Tunnel reported tunnel_failed()
};

}  // namespace portcullis::gateway::egress
