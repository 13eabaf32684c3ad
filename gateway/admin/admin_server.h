// AdminServer: /healthz, /readyz, /metrics and /config on [admin].listen, on the main loop.
//
// Deliberately tiny: plain HTTP/1.x, one request per connection, GET only, requests bounded
// to 8 KiB. It must never be reachable from outside by default (CONTRACT: 127.0.0.1:9901).
// Thread:   the main thread's loop. Owns its listening handle and its connections.
#pragma once

#include <string>

#include <uv.h>

namespace portcullis::gateway::runtime {
class Server;
}

namespace portcullis::gateway::admin {

class AdminServer {
 public:
  AdminServer(runtime::Server& server, uv_loop_t* loop);
  bool start(const std::string& address);
  void close();

  // Status line + body for a path (exposed for tests).
  std::string respond(const std::string& method, const std::string& path) const;

 private:
  static void on_connection(uv_stream_t* s, int status) noexcept;
  runtime::Server& server_;
  uv_loop_t* loop_;
  uv_tcp_t tcp_{};
  bool open_ = false;
};

}  // namespace portcullis::gateway::admin
