// DnsServer: a small authoritative DNS server for tests, UDP and TCP on one 127.0.0.1 port,
// running on the test's own uv loop. It answers A/AAAA from maps, NXDOMAIN for unknown names,
// and can misbehave on purpose: drop the first UDP queries, or answer every UDP query truncated
// (TC set, no records) so that only TCP gets the records. It counts what it saw.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <uv.h>

namespace dns_test {

struct Seen {
  std::string name;
  std::uint16_t id;
  std::uint16_t qtype;
  bool tcp;
};

class DnsServer {
 public:
  std::map<std::string, std::vector<std::string>> a, aaaa;  // lower case, no trailing dot
  std::uint32_t ttl = 60;
  int drop_udp = 0;           // drop this many UDP queries, then answer
  bool truncate_udp = false;  // every UDP answer: TC bit, no records
  std::vector<Seen> seen;

  explicit DnsServer(uv_loop_t* loop) {
    // UDP on a free port, then TCP on the same one (retry if someone holds it for TCP).
    for (int attempt = 0; attempt < 20 && port_ == 0; ++attempt) {
      uv_udp_init(loop, &udp_);
      uv_tcp_init(loop, &tcp_);
      udp_.data = tcp_.data = this;
      sockaddr_in sa{};
      uv_ip4_addr("127.0.0.1", 0, &sa);
      uv_udp_bind(&udp_, reinterpret_cast<const sockaddr*>(&sa), 0);
      sockaddr_storage got{};
      int len = sizeof got;
      uv_udp_getsockname(&udp_, reinterpret_cast<sockaddr*>(&got), &len);
      const std::uint16_t p = ntohs(reinterpret_cast<sockaddr_in*>(&got)->sin_port);
      uv_ip4_addr("127.0.0.1", p, &sa);
      if (uv_tcp_bind(&tcp_, reinterpret_cast<const sockaddr*>(&sa), 0) == 0 &&
          uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), 8, &DnsServer::on_accept) == 0) {
        port_ = p;
        break;
      }
      uv_close(reinterpret_cast<uv_handle_t*>(&udp_), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
      uv_run(loop, UV_RUN_NOWAIT);
    }
    uv_udp_recv_start(&udp_, &DnsServer::on_alloc, &DnsServer::on_udp);
  }
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;
  // The owner runs the loop after this so the handles finish closing.
  ~DnsServer() {
    uv_close(reinterpret_cast<uv_handle_t*>(&udp_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
    for (auto* c : conns_) {
      c->server = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), &Conn::closed);
    }
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::uint16_t port() const { return port_; }
  int count(bool tcp) const {
    int n = 0;
    for (const auto& s : seen) {
      n += s.tcp == tcp ? 1 : 0;
    }
    return n;
  }

 private:
  struct Conn {
    uv_tcp_t tcp{};
    DnsServer* server = nullptr;
    std::string in;
    static void closed(uv_handle_t* h) { delete static_cast<Conn*>(h->data); }
  };

  // The reply to one query, or "" to stay silent.
  std::string answer(const std::string& q, bool tcp) {
    if (q.size() < 12) {
      return {};
    }
    std::size_t i = 12;
    std::string name;
    while (i < q.size() && q[i] != 0) {
      const std::size_t n = static_cast<unsigned char>(q[i]);
      if (i + 1 + n > q.size()) {
        return {};
      }
      name += (name.empty() ? "" : ".") + q.substr(i + 1, n);
      i += 1 + n;
    }
    if (i + 5 > q.size()) {
      return {};
    }
    for (auto& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    const std::size_t qend = i + 5;
    const auto u16 = [&](std::size_t at) {
      return static_cast<std::uint16_t>((static_cast<unsigned char>(q[at]) << 8) |
                                        static_cast<unsigned char>(q[at + 1]));
    };
    const std::uint16_t id = u16(0), qtype = u16(i + 1);
    seen.push_back({name, id, qtype, tcp});
    if (!tcp && drop_udp > 0) {
      --drop_udp;
      return {};
    }
    const bool known = a.count(name) != 0 || aaaa.count(name) != 0;
    std::vector<std::string> records;
    if (!(truncate_udp && !tcp)) {
      const auto& table = qtype == 28 ? aaaa : a;
      if (auto it = table.find(name); it != table.end() && (qtype == 1 || qtype == 28)) {
        records = it->second;
      }
    }
    std::string r;
    const auto put16 = [&](unsigned v) {
      r += static_cast<char>((v >> 8) & 0xff);
      r += static_cast<char>(v & 0xff);
    };
    put16(id);
    unsigned flags = 0x8000 | 0x0400 | (u16(2) & 0x0100) | 0x0080 | (known ? 0 : 3);
    if (truncate_udp && !tcp) {
      flags |= 0x0200;  // TC
    }
    put16(flags);
    put16(1);
    put16(static_cast<unsigned>(records.size()));
    put16(0);
    put16(0);
    r += q.substr(12, qend - 12);
    for (const auto& rec : records) {
      unsigned char bytes[16];
      const bool v6 = qtype == 28;
      inet_pton(v6 ? AF_INET6 : AF_INET, rec.c_str(), bytes);
      put16(0xC00C);
      put16(qtype);
      put16(1);
      put16(ttl >> 16);
      put16(ttl & 0xffff);
      put16(v6 ? 16 : 4);
      r.append(reinterpret_cast<const char*>(bytes), v6 ? 16 : 4);
    }
    return r;
  }

  static void on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) {
    static char storage[65536];
    *buf = uv_buf_init(storage, sizeof storage);
  }
  static void on_udp(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from,
                     unsigned) {
    auto* self = static_cast<DnsServer*>(h->data);
    if (n <= 0 || from == nullptr) {
      return;
    }
    const std::string reply = self->answer(std::string(buf->base, static_cast<std::size_t>(n)),
                                           false);
    if (!reply.empty()) {
      uv_buf_t b = uv_buf_init(const_cast<char*>(reply.data()),
                               static_cast<unsigned>(reply.size()));
      uv_udp_try_send(h, &b, 1, from);
    }
  }
  static void on_accept(uv_stream_t* s, int status) {
    auto* self = static_cast<DnsServer*>(s->data);
    if (status != 0) {
      return;
    }
    auto* c = new Conn{};
    c->server = self;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(s, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), &Conn::closed);
      return;
    }
    self->conns_.push_back(c);
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), &DnsServer::on_alloc,
                  &DnsServer::on_tcp);
  }
  static void on_tcp(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* c = static_cast<Conn*>(s->data);
    if (c->server == nullptr) {
      return;
    }
    if (n < 0) {
      std::erase(c->server->conns_, c);
      uv_close(reinterpret_cast<uv_handle_t*>(s), &Conn::closed);
      return;
    }
    c->in.append(buf->base, static_cast<std::size_t>(n));
    while (c->in.size() >= 2) {
      const std::size_t len = (static_cast<unsigned char>(c->in[0]) << 8) |
                              static_cast<unsigned char>(c->in[1]);
      if (c->in.size() < 2 + len) {
        break;
      }
      const std::string reply = c->server->answer(c->in.substr(2, len), true);
      c->in.erase(0, 2 + len);
      if (reply.empty()) {
        continue;
      }
      auto* w = new std::pair<uv_write_t, std::string>{};
      w->second.push_back(static_cast<char>(reply.size() >> 8));
      w->second.push_back(static_cast<char>(reply.size() & 0xff));
      w->second += reply;
      w->first.data = w;
      uv_buf_t b = uv_buf_init(w->second.data(), static_cast<unsigned>(w->second.size()));
      uv_write(&w->first, s, &b, 1, [](uv_write_t* req, int) {
        delete static_cast<std::pair<uv_write_t, std::string>*>(req->data);
      });
    }
  }

  uv_udp_t udp_{};
  uv_tcp_t tcp_{};
  std::uint16_t port_ = 0;
  std::vector<Conn*> conns_;
};

}  // namespace dns_test
