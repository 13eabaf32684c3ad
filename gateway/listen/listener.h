// Listener: one worker's listening socket for one configured listener. On accept it creates a
// DownstreamConnection pinned to the worker's current snapshot.
//
// Thread:   the owning worker's loop. Sockets outlive config generations: at accept, the
//           listener looks up its ListenerRuntime by name in the current snapshot.
#pragma once

#include <string>

#include <uv.h>

namespace portcullis::gateway::upstream {
class WorkerContext;
}

namespace portcullis::gateway::listen {

class Listener {
 public:
  Listener(upstream::WorkerContext& worker, std::string name, int fd);
  ~Listener();
  int start() noexcept;
  // Stops accepting; the handle closes asynchronously. The object must outlive the close.
  void close() noexcept;
  bool closed() const noexcept { return closed_; }

 private:
  static void on_connection(uv_stream_t* server, int status) noexcept;

  upstream::WorkerContext& worker_;
  std::string name_;
  uv_tcp_t tcp_{};
  bool closing_ = false;
  bool closed_ = false;
};

// Creates a non-blocking SO_REUSEPORT socket bound to `addr` and listening. Returns the fd or
// -errno. Used by the Server, once per worker, before the workers start.
int bind_listen_socket(const sockaddr* addr) noexcept;

}  // namespace portcullis::gateway::listen
