// AdminServer: /healthz, /readyz, /metrics and /config on [admin].listen, on the main loop, and
// the dashboard (dashboard.h) at / with its data at /audit/denials.
//
// Deliberately tiny: HTTP/1.x, one request per connection, GET only, requests bounded to 8 KiB
// and 10 s. It must never be reachable from outside by default (CONTRACT: 127.0.0.1:9901).
// Authentication (admin_auth.h): with a token, everything but the probes (/healthz, /readyz)
// and /metrics (unless protect_metrics) needs `Authorization: Bearer <token>`, else 401 with
// `WWW-Authenticate: Bearer`, audited and counted through AdminViews::admin_rejected. With a
// TLS context the listener speaks TLS only; a context with a client CA refuses handshakes
// without a verified client certificate.
// Thread:   the main thread's loop. Owns its listening handle and its connections.
#pragma once

#include <string>

#include <uv.h>

#include "tls/ptr.h"

namespace portcullis::gateway::admin {

// Who may see what, read per request (the token changes on reload).
struct AdminAccess {
  std::string token;             // "" = no token asked for
  bool protect_metrics = false;  // /metrics needs the token too
};

// What the admin endpoints show, given by the process (runtime::Server implements it).
// Called on the main loop.
class AdminViews {
 public:
  virtual bool ready() const noexcept = 0;
  virtual std::string metrics_text() const = 0;  // Prometheus text exposition
  virtual std::string config_json() const = 0;   // the running configuration, no key material
  // The latest audit lines with "decision":"deny", newest first, as a JSON array.
  virtual std::string audit_denials_json() const { return "[]"; }
  virtual AdminAccess admin_access() const { return {}; }
  // A request refused with 401: audit and metric (admin_unauthorized).
  virtual void admin_rejected(const std::string& client, const std::string& path) {
    (void)client;
    (void)path;
  }

 protected:
  ~AdminViews() = default;
};

struct AdminRequest {
  std::string method;
  std::string path;           // without the query
  std::string authorization;  // the Authorization field, "" when absent
  std::string client;         // "ip:port"
};

class AdminServer {
 public:
  AdminServer(AdminViews& views, uv_loop_t* loop);
  // `tls_ctx`: admin_auth.h's context, or null for plain HTTP.
  bool start(const std::string& address, tls::SslCtxPtr tls_ctx = nullptr);
  void close();

  // The whole response for a request (exposed for tests).
  std::string respond(const AdminRequest& req) const;

 private:
  static void on_connection(uv_stream_t* s, int status) noexcept;
  AdminViews& views_;
  uv_loop_t* loop_;
  uv_tcp_t tcp_{};
  tls::SslCtxPtr tls_ctx_;
  bool open_ = false;
};

}  // namespace portcullis::gateway::admin
