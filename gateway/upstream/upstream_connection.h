// UpstreamConnection: one connection to one endpoint of a Target: resolve, TCP connect, TLS with
// every check the Target asks for (mesh: our workload certificate, the mesh roots, the SPIFFE
// ID; egress: the entry's roots, host name, pins, key strength), then an HTTP/1.1 or HTTP/2
// client session. No request byte is written before every check passed. A new connection
// resumes the newest TLS session of its PoolKey (see Pool::session_for), and hands the
// sessions it gets to the pool only once its own checks passed.
//
// Thread:   the owning worker's loop.
// Owner:    the Pool. Exchanges that arrive before the connection is ready wait in pending_;
//           each waits as an UpstreamSide so a client that goes away is forgotten at once.
// Lifetime: deletes itself after close, once every handle callback ran (on_closed), after
//           telling the pool.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/io/socket.h"
#include "gateway/http/client.h"
#include "gateway/snapshot/snapshot.h"
#include "gateway/upstream/pool.h"
#include "gateway/snapshot/target.h"
#include "gateway/upstream/worker_context.h"
#include "tls/session.h"

namespace portcullis::gateway::dns {
class Lookup;
}

namespace portcullis::gateway::upstream {

class UpstreamConnection final : public io::SocketOwner,
                                 public http::ClientOwner,
                                 public tls::SessionSink {
 public:
  UpstreamConnection(WorkerContext& worker, Pool& pool, PoolKey key, runtime::SnapshotPtr snap,
                     Target target, Endpoint endpoint);
  ~UpstreamConnection() override;

  void start() noexcept;
  // True when it can take one more exchange now or once connected.
  bool has_room() const noexcept;
  void add(http::Exchange& ex) noexcept;
  bool idle() const noexcept { return ready_ && client_ && client_->active() == 0; }
  const PoolKey& key() const noexcept { return key_; }
  void close() noexcept;

  // SocketOwner
  void on_connected(int status) noexcept override;
  void on_handshake_done() noexcept override;
  void on_plaintext(std::string_view bytes) noexcept override;
  void on_peer_eof() noexcept override;
  void on_transport_error(int uv_status) noexcept override;
  void on_writable() noexcept override;
  void on_timeout() noexcept override;
  void on_closed() noexcept override;

  // ClientOwner
  void client_output_ready() noexcept override;
  void client_capacity_available() noexcept override;
  bool client_retry(http::Exchange& ex) noexcept override;

  // tls::SessionSink
  void on_new_session(tls::SslSessionPtr session) noexcept override;

 private:
  using Clock = std::chrono::steady_clock;
  struct Waiting;
  void on_resolved(int status, const std::vector<std::string>& addresses) noexcept;
  void connect_to(const sockaddr* addr) noexcept;
  Reason verify_peer(std::string& seen) noexcept;
  void refuse(Reason why, const std::string& seen, const std::string& detail) noexcept;
  void became_ready(bool h2) noexcept;
  void traffic_result(bool ok) noexcept;
  void fail_all(int status, Reason why, std::string_view body_line = {}) noexcept;
  void attach_waiting() noexcept;
  void take_queued() noexcept;
  void flush() noexcept;
  http::Exchange* uploading() const noexcept;
  // Arms the in-flight timer; `activity`: a byte moved, so the idle time-out restarts.
  void arm_request_timer(bool activity = true) noexcept;
  // Before ready: the connect time-out, or sooner a waiting request's gRPC deadline.
  void arm_connect_timer() noexcept;
  // The earliest gRPC deadline (Exchange::deadline) among waiting and in-flight exchanges.
  std::optional<Clock::time_point> next_deadline() const noexcept;
  // Answers every exchange whose deadline passed (504 / grpc-status 4); true if any did.
  bool expire_deadlines(Clock::time_point now) noexcept;
  bool maybe_h2() const noexcept { return target_.require_h2 || target_.prefer_h2; }

  WorkerContext& worker_;
  Pool& pool_;
  PoolKey key_;
  runtime::SnapshotPtr snap_;  // keeps target_.ctx alive
  Target target_;
  Endpoint endpoint_;
  std::string address_;  // "ip:port" once resolved
  io::TlsSocket socket_;
  std::unique_ptr<http::ClientSession> client_;
  tls::SslSessionPtr early_session_;  // arrived before verify_peer passed (TLS 1.2)
  std::deque<std::unique_ptr<Waiting>> pending_;
  dns::Lookup* lookup_ = nullptr;  // in flight; cancelled by close()
  static constexpr std::int64_t kUploadTickMs = 1'000;
  http::Exchange* uploading_ = nullptr;  // HTTP/1.1: valid only while client_->active() > 0
  Clock::time_point body_deadline_{};
  Clock::time_point connect_deadline_{};
  Clock::time_point last_activity_{};
  bool h2_ = false;
  bool ready_ = false;
  bool verified_ = false;  // every check on the peer passed
  bool closing_ = false;
  bool busy_ = false;
  bool flush_again_ = false;
};

}  // namespace portcullis::gateway::upstream
