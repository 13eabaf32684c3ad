#include "gateway/admin/admin_server.h"

#include "gateway/admin/dashboard.h"
#include "gateway/io/uv.h"

namespace portcullis::gateway::admin {
namespace {

constexpr std::size_t kMaxRequest = 8 * 1024;

struct AdminConn {
  uv_tcp_t tcp{};
  uv_write_t write{};
  const AdminServer* server = nullptr;
  std::string in;
  std::string out;
  bool responded = false;
};

void close_conn(AdminConn* c) {
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
           [](uv_handle_t* h) { delete static_cast<AdminConn*>(h->data); });
}

void on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) noexcept {
  static thread_local char storage[4096];
  *buf = uv_buf_init(storage, sizeof storage);
}

void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept {
  auto* c = static_cast<AdminConn*>(s->data);
  if (c->responded) {
    return;
  }
  if (n < 0) {
    close_conn(c);
    return;
  }
  c->in.append(buf->base, static_cast<std::size_t>(n));
  if (c->in.size() > kMaxRequest) {
    close_conn(c);
    return;
  }
  const auto end = c->in.find("\r\n\r\n");
  if (end == std::string::npos) {
    return;
  }
  uv_read_stop(s);
  c->responded = true;
  const auto line_end = c->in.find("\r\n");
  const std::string line = c->in.substr(0, line_end);
  const auto sp1 = line.find(' ');
  const auto sp2 = line.find(' ', sp1 + 1);
  std::string method = line.substr(0, sp1);
  std::string path = sp1 == std::string::npos ? "" : line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (const auto q = path.find('?'); q != std::string::npos) {
    path.resize(q);
  }
  c->out = c->server->respond(method, path);
  uv_buf_t out = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
  c->write.data = c;
  if (uv_write(&c->write, s, &out, 1, [](uv_write_t* w, int) {
        close_conn(static_cast<AdminConn*>(w->data));
      }) != 0) {
    close_conn(c);
  }
}

std::string http_response(int status, std::string_view reason, std::string_view type,
                          const std::string& body) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  r += "Content-Type: " + std::string(type) + "\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  r += body;
  return r;
}

}  // namespace

AdminServer::AdminServer(const AdminViews& server, uv_loop_t* loop)
    : server_(server), loop_(loop) {}

bool AdminServer::start(const std::string& address) {
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
  std::fprintf(stderr, "portcullis: admin listening %s\n",
               io::to_string(reinterpret_cast<const sockaddr*>(&bound)).c_str());
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
  auto* c = new AdminConn{};
  c->server = &self;
  uv_tcp_init(self.loop_, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    close_conn(c);
    return;
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
}

std::string AdminServer::respond(const std::string& method, const std::string& path) const {
  if (method != "GET" && method != "HEAD") {
    return http_response(405, "Method Not Allowed", "text/plain", "method not allowed\n");
  }
  if (path == "/healthz") {
    return http_response(200, "OK", "text/plain", "ok\n");
  }
  if (path == "/readyz") {
    return server_.ready() ? http_response(200, "OK", "text/plain", "ready\n")
                           : http_response(503, "Service Unavailable", "text/plain",
                                           "not ready\n");
  }
  if (path == "/metrics") {
    return http_response(200, "OK", "text/plain; version=0.0.4", server_.metrics_text());
  }
  if (path == "/config") {
    return http_response(200, "OK", "application/json", server_.config_json());
  }
  if (path == "/" || path == "/index.html") {
    return http_response(200, "OK", "text/html; charset=utf-8", std::string(dashboard_html()));
  }
  if (path == "/audit/denials") {
    return http_response(200, "OK", "application/json", server_.audit_denials_json());
  }
  return http_response(404, "Not Found", "text/plain", "not found\n");
}

}  // namespace portcullis::gateway::admin
