#include "gateway/egress/tunnel.h"

#include "gateway/io/uv.h"

namespace portcullis::gateway::egress {
namespace {

constexpr std::uint64_t kConnectTimeoutMs = 5000;

}  // namespace

Tunnel* Tunnel::open(uv_loop_t* loop, const std::string& resolver, const Destination& dest,
                     bool allow_private, TunnelPeer& peer, std::size_t buffer) {
  auto* t = new Tunnel(loop, peer);
  t->socket_.set_high_watermark(buffer);
  t->start(resolver, dest, allow_private);
  return t;
}

void Tunnel::start(const std::string& resolver, const Destination& dest, bool allow_private) {
  socket_.set_timer(kConnectTimeoutMs);
  const std::uint16_t port = dest.port;
  Lookup* l = check_destination(
      socket_.tcp()->loop, resolver, dest, allow_private, [this, port](CheckResult r) {
        lookup_ = nullptr;
        if (r.status != 0) {
          if (peer_ != nullptr) {
            peer_->tunnel_failed(r.status, r.why, r.reason, r.detail);
          }
          peer_ = nullptr;
          socket_.close();
          return;
        }
        sockaddr_storage addr{};
        io::parse_ip(r.address, port, addr);
        address_ = io::to_string(reinterpret_cast<const sockaddr*>(&addr));
        if (socket_.connect(reinterpret_cast<const sockaddr*>(&addr)) != 0) {
          on_connected(UV_ECONNREFUSED);
        }
      });
  if (l != nullptr) {
    lookup_ = l;
  }
}

void Tunnel::on_connected(int status) noexcept {
  if (peer_ == nullptr) {
    socket_.close();
    return;
  }
  if (status != 0) {
    peer_->tunnel_failed(502, Reason::upstream_connect_failed, Reason::egress_connect_failed,
                         address_ + ": " + uv_strerror(status));
    peer_ = nullptr;
    socket_.close();
    return;
  }
  connected_ = true;
  socket_.set_timer(0);
  socket_.read(true);
  peer_->tunnel_connected(address_);
}

void Tunnel::on_plaintext(std::string_view bytes) noexcept {
  if (peer_ != nullptr) {
    peer_->tunnel_data(bytes);
  }
}

void Tunnel::on_writable() noexcept {
  if (peer_ != nullptr) {
    peer_->tunnel_writable();
  }
}

void Tunnel::finish() noexcept {
  TunnelPeer* peer = peer_;
  peer_ = nullptr;
  socket_.close();
  if (peer != nullptr) {
    if (connected_) {
      peer->tunnel_closed();
    } else {
      peer->tunnel_failed(502, Reason::upstream_connect_failed, Reason::egress_connect_failed, address_);
    }
  }
}

void Tunnel::detach_and_close() noexcept {
  peer_ = nullptr;
  if (lookup_ != nullptr) {
    lookup_->cancel();
    lookup_ = nullptr;
  }
  socket_.close();
}

}  // namespace portcullis::gateway::egress
