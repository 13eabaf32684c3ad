// AdminServer: /healthz, /readyz, /metrics and /config on [admin].listen, on the main loop, and
// the dashboard (dashboard.h) at / with its data at /audit/denials.
//
// Deliberately tiny: plain HTTP/1.x, one request per connection, GET only, requests bounded
// to 8 KiB. It must never be reachable from outside by default (CONTRACT: 127.0.0.1:9901).
// Thread:   the main thread's loop. Owns its listening handle and its connections.
#pragma once

#include <string>

#include <uv.h>

namespace portcullis::gateway::admin {

// What the admin endpoints show, given by the process (runtime::Server implements it).
// Called on the main loop.
class AdminViews {
 public:
  virtual bool ready() const noexcept = 0;
  virtual std::string metrics_text() const = 0;  // Prometheus text exposition
  virtual std::string config_json() const = 0;   // the running configuration, no key material
  // The latest audit lines with "decision":"deny", newest first, as a JSON array.
  virtual std::string audit_denials_json() const { return "[]"; }

 protected:
  ~AdminViews() = default;
};

class AdminServer {
 public:
  AdminServer(const AdminViews& views, uv_loop_t* loop);
  bool start(const std::string& address);
  void close();

  // Status line + body for a path (exposed for tests).
  std::string respond(const std::string& method, const std::string& path) const;

 private:
  static void on_connection(uv_stream_t* s, int status) noexcept;
  const AdminViews& server_;
  uv_loop_t* loop_;
  uv_tcp_t tcp_{};
  bool open_ = false;
};

}  // namespace portcullis::gateway::admin
