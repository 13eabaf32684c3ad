#include "gateway/admin/admin_server.h"

#include "gateway/admin/admin_auth.h"
#include "gateway/admin/dashboard.h"
#include "gateway/io/socket.h"
#include "gateway/io/uv.h"

namespace portcullis::gateway::admin {
namespace {

constexpr std::size_t kMaxRequest = 8 * 1024;
constexpr std::uint64_t kRequestTimeoutMs = 10'000;  // a head (and handshake) within 10 s
constexpr std::uint64_t kLingerMs = 2'000;           // after the response, for the client's FIN
// A response the client has not taken within this long is cut (nginx's send_timeout is 60 s
// too): /metrics is megabytes with many tenants (143 bytes a tenant), and a scraper reading
// it may take seconds. The linger starts only once the last byte is out.
constexpr std::uint64_t kSendTimeoutMs = 60'000;

// One admin connection: an io::TlsSocket (plain or TLS), one request, one response.
class AdminConn final : public io::SocketOwner {
 public:
  AdminConn(uv_loop_t* loop, const AdminServer& server) : sock_(loop, *this), server_(server) {}
  io::TlsSocket& sock() noexcept { return sock_; }

  void on_handshake_done() noexcept override {}
  void on_plaintext(std::string_view bytes) noexcept override {
    if (responded_) {
      return;
    }
    in_.append(bytes);
    if (in_.size() > kMaxRequest) {
      sock_.close();
      return;
    }
    const auto end = in_.find("\r\n\r\n");
    if (end == std::string::npos) {
      return;
    }
    responded_ = true;  // reading goes on, so the client's close ends the connection
    AdminRequest req;
    const std::string_view head = std::string_view(in_).substr(0, end + 2);
    const std::string_view line = head.substr(0, head.find("\r\n"));
    const auto sp1 = line.find(' ');
    const auto sp2 = line.find(' ', sp1 == std::string_view::npos ? line.size() : sp1 + 1);
    req.method = std::string(line.substr(0, sp1));
    if (sp1 != std::string_view::npos) {
      req.path = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
    }
    if (const auto q = req.path.find('?'); q != std::string::npos) {
      req.path.resize(q);
    }
    req.authorization = std::string(authorization_field(head));
    req.client = sock_.peer_address();
    sock_.send(server_.respond(req));
    sock_.shutdown_write();  // close_notify (TLS) and FIN once the response is out
    sock_.set_timer(sock_.backlog() == 0 ? kLingerMs : kSendTimeoutMs);
  }
  void on_peer_eof() noexcept override { sock_.close(); }
  void on_transport_error(int) noexcept override { sock_.close(); }
  void on_writable() noexcept override {
    if (responded_ && sock_.backlog() == 0) {
      sock_.set_timer(kLingerMs);  // all of it written: now only the client's FIN is awaited
    }
  }
  void on_timeout() noexcept override { sock_.close(); }
  void on_closed() noexcept override { delete this; }

 private:
  io::TlsSocket sock_;
  const AdminServer& server_;
  std::string in_;
  bool responded_ = false;
};

std::string http_response(int status, std::string_view reason, std::string_view type,
                          const std::string& body, std::string_view extra = {}) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  r += "Content-Type: " + std::string(type) + "\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += extra;
  r += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  r += body;
  return r;
}

// The dashboard's page: inline script and style only, data from this origin only, no framing
// (the page may hold the token in sessionStorage).
constexpr std::string_view kPageHeaders =
    "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; "
    "frame-ancestors 'none'\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n";

}  // namespace

AdminServer::AdminServer(AdminViews& views, uv_loop_t* loop) : views_(views), loop_(loop) {}

bool AdminServer::start(const std::string& address, tls::SslCtxPtr tls_ctx) {
  tls_ctx_ = std::move(tls_ctx);
  auto hp = io::split_host_port(address);
  sockaddr_storage addr{};
  if (!hp || !io::parse_ip(hp->host, hp->port, addr)) {
    return false;
  }
  uv_tcp_init(loop_, &tcp_);
  tcp_.data = this;
  open_ = true;
  if (uv_tcp_bind(&tcp_, reinterpret_cast<const sockaddr*>(&addr), 0) != 0 ||
      uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), 128, &AdminServer::on_connection) != 0) {
    return false;
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&bound), &len);
  std::fprintf(stderr, "portcullis: admin listening %s%s\n",
               io::to_string(reinterpret_cast<const sockaddr*>(&bound)).c_str(),
               tls_ctx_ ? " (TLS)" : "");
  return true;
}

void AdminServer::close() {
  if (open_) {
    open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
  }
}

void AdminServer::on_connection(uv_stream_t* s, int status) noexcept {
  auto& self = io::owner_of<AdminServer>(s);
  if (status < 0) {
    return;
  }
  auto* c = new AdminConn(self.loop_, self);  // deletes itself in on_closed()
  if (uv_accept(s, c->sock().stream()) != 0) {
    c->sock().close();
    return;
  }
  if (self.tls_ctx_) {
    tls::SslPtr ssl{SSL_new(self.tls_ctx_.get())};
    if (!ssl) {
      c->sock().close();
      return;
    }
    c->sock().set_tls(std::move(ssl), tls::Role::server);
  }
  c->sock().set_timer(kRequestTimeoutMs);
  c->sock().read(true);
}

std::string AdminServer::respond(const AdminRequest& req) const {
  const std::string& path = req.path;
  if (req.method != "GET" && req.method != "HEAD") {
    return http_response(405, "Method Not Allowed", "text/plain", "method not allowed\n");
  }
  if (path == "/healthz") {
    return http_response(200, "OK", "text/plain", "ok\n");
  }
  if (path == "/readyz") {
    return views_.ready() ? http_response(200, "OK", "text/plain", "ready\n")
                          : http_response(503, "Service Unavailable", "text/plain",
                                          "not ready\n");
  }
  const AdminAccess access = views_.admin_access();
  const bool needs_token =
      !access.token.empty() && (path != "/metrics" || access.protect_metrics);
  if (needs_token && !bearer_matches(req.authorization, access.token)) {
    views_.admin_rejected(req.client, path.substr(0, 200));
    if (path == "/" || path == "/index.html") {
      // The page itself holds no data: sent with the 401 so a browser shows its token form,
      // and its script sends the token with every fetch.
      return http_response(401, "Unauthorized", "text/html; charset=utf-8",
                           std::string(dashboard_html()),
                           std::string("WWW-Authenticate: Bearer realm=\"portcullis-admin\"\r\n") +
                               std::string(kPageHeaders));
    }
    return http_response(401, "Unauthorized", "text/plain", "unauthorized\n",
                         "WWW-Authenticate: Bearer realm=\"portcullis-admin\"\r\n");
  }
  if (path == "/metrics") {
    return http_response(200, "OK", "text/plain; version=0.0.4", views_.metrics_text());
  }
  if (path == "/config") {
    return http_response(200, "OK", "application/json", views_.config_json());
  }
  if (path == "/" || path == "/index.html") {
    return http_response(200, "OK", "text/html; charset=utf-8", std::string(dashboard_html()),
                         kPageHeaders);
  }
  if (path == "/audit/denials") {
    return http_response(200, "OK", "application/json", views_.audit_denials_json());
  }
  return http_response(404, "Not Found", "text/plain", "not found\n");
}

}  // namespace portcullis::gateway::admin
