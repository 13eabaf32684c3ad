// Listener: one worker's listening socket for one configured listener. On accept it creates a
// DownstreamConnection pinned to the worker's current snapshot.
//
// Thread:   the owning worker's loop. Sockets outlive config generations: at accept, the
//           listener looks up its ListenerRuntime by name in the current snapshot.
//
// Accepting is done here, not by uv_listen: libuv's accept loop calls back with EMFILE and tries
// again at once, so at the descriptor limit a worker spins inside one loop iteration and never
// gets to close anything (its spare-descriptor trick is per loop and races between threads). A
// uv_poll_t on the listening fd lets the listener stop polling on EMFILE/ENFILE, leave the
// connections queued in the kernel backlog, and poll again after a short back-off.
#pragma once

#include <cstdint>
#include <string>

#include <uv.h>

namespace portcullis::gateway::upstream {
class WorkerContext;
}

namespace portcullis::gateway::listen {

class Listener {
 public:
  // Takes ownership of `fd`, a listening non-blocking socket.
  Listener(upstream::WorkerContext& worker, std::string name, int fd);
  ~Listener();
  int start() noexcept;
  // Stops accepting; the handles close asynchronously. The object must outlive the close.
  void close() noexcept;
  bool closed() const noexcept { return closed_; }

  // Back-off after the n-th consecutive accept failure for lack of descriptors (n >= 1).
  static std::uint64_t backoff_ms(unsigned failures) noexcept;

 private:
  static void on_readable(uv_poll_t* poll, int status, int events) noexcept;
  static void on_backoff(uv_timer_t* timer) noexcept;
  static void on_handle_closed(uv_handle_t* h) noexcept;
  void accept_batch() noexcept;
  void pause_for_descriptors() noexcept;

  upstream::WorkerContext& worker_;
  std::string name_;
  int fd_;
  uv_poll_t poll_{};
  uv_timer_t backoff_{};
  unsigned fd_failures_ = 0;  // consecutive EMFILE/ENFILE back-offs; 0 once an accept succeeds
  int open_handles_ = 2;
  bool closing_ = false;
  bool closed_ = false;
};

// Creates a non-blocking socket bound to `addr` and listening. Returns the fd or -errno. Used by
// the Server, once per listener, before the workers start (each worker polls a dup).
int bind_listen_socket(const sockaddr* addr) noexcept;

}  // namespace portcullis::gateway::listen
