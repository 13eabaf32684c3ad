#include "gateway/egress/resolver.h"

#include <random>

#include "gateway/egress/dns_message.h"
#include "gateway/io/uv.h"

namespace portcullis::gateway::egress {
namespace {

constexpr std::uint64_t kDnsTimeoutMs = 2000;
constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeAAAA = 28;

class SystemLookup final : public Lookup {
 public:
  SystemLookup(uv_loop_t* loop, const std::string& name, Callback cb) : cb_(std::move(cb)) {
    req_.data = this;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    const int rc = uv_getaddrinfo(loop, &req_, &SystemLookup::done, name.c_str(), nullptr, &hints);
    if (rc != 0) {
      // Report on the next turn, never synchronously.
      failed_ = rc;
      timer_ = new uv_timer_t{};
      uv_timer_init(loop, timer_);
      timer_->data = this;
      uv_timer_start(timer_, [](uv_timer_t* t) {
        auto* self = static_cast<SystemLookup*>(t->data);
        if (self->cb_) {
          self->cb_(self->failed_, {});
        }
        uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) {
          auto* me = static_cast<SystemLookup*>(h->data);
          delete reinterpret_cast<uv_timer_t*>(h);
          delete me;
        });
      }, 0, 0);
    }
  }
  void cancel() noexcept override { cb_ = nullptr; }

 private:
  static void done(uv_getaddrinfo_t* req, int status, addrinfo* res) noexcept {
    auto* self = static_cast<SystemLookup*>(req->data);
    std::vector<std::string> out;
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
      out.push_back(io::ip_of(a->ai_addr));
    }
    uv_freeaddrinfo(res);
    if (self->cb_) {
      self->cb_(status, std::move(out));
    }
    delete self;
  }
  uv_getaddrinfo_t req_{};
  uv_timer_t* timer_ = nullptr;
  int failed_ = 0;
  Callback cb_;
};

// Two questions (A, AAAA) over one UDP socket to the configured server.
class UdpLookup final : public Lookup {
 public:
  UdpLookup(uv_loop_t* loop, const sockaddr_storage& server, std::string name, Callback cb)
      : name_(std::move(name)), cb_(std::move(cb)) {
    uv_udp_init(loop, &udp_);
    uv_timer_init(loop, &timer_);
    udp_.data = this;
    timer_.data = this;
    std::random_device rd;
    id_a_ = static_cast<std::uint16_t>(rd());
    id_aaaa_ = static_cast<std::uint16_t>(id_a_ + 1);
    const std::string qa = build_query(id_a_, name_, kTypeA);
    const std::string qaaaa = build_query(id_aaaa_, name_, kTypeAAAA);
    int rc = qa.empty() ? UV_EINVAL : 0;
    if (rc == 0) {
      rc = uv_udp_connect(&udp_, reinterpret_cast<const sockaddr*>(&server));
    }
    if (rc == 0) {
      rc = send(qa) != 0 ? UV_EIO : 0;
      rc = rc == 0 && send(qaaaa) != 0 ? UV_EIO : rc;
    }
    if (rc == 0) {
      rc = uv_udp_recv_start(&udp_, &UdpLookup::on_alloc, &UdpLookup::on_recv);
    }
    status_ = rc;
    uv_timer_start(&timer_, &UdpLookup::on_timer, rc == 0 ? kDnsTimeoutMs : 0, 0);
  }
  void cancel() noexcept override { cb_ = nullptr; }

 private:
  int send(const std::string& q) {
    uv_buf_t b = uv_buf_init(const_cast<char*>(q.data()), static_cast<unsigned>(q.size()));
    return uv_udp_try_send(&udp_, &b, 1, nullptr) == static_cast<int>(q.size()) ? 0 : -1;
  }
  static void on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) noexcept {
    static thread_local char storage[4096];
    *buf = uv_buf_init(storage, sizeof storage);
  }
  static void on_recv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr*,
                      unsigned) noexcept {
    auto* self = static_cast<UdpLookup*>(h->data);
    if (n <= 0 || self->finished_) {
      return;
    }
    const std::string_view msg(buf->base, static_cast<std::size_t>(n));
    for (auto [id, type, got] : {std::tuple{self->id_a_, kTypeA, &self->got_a_},
                                 std::tuple{self->id_aaaa_, kTypeAAAA, &self->got_aaaa_}}) {
      if (*got) {
        continue;
      }
      if (auto answer = parse_response(msg, id, self->name_, type)) {
        *got = true;
        for (auto& a : answer->addresses) {
          self->addresses_.push_back(std::move(a));
        }
      }
    }
    if (self->got_a_ && self->got_aaaa_) {
      self->finish(0);
    }
  }
  static void on_timer(uv_timer_t* t) noexcept {
    auto* self = static_cast<UdpLookup*>(t->data);
    const bool any = self->got_a_ || self->got_aaaa_;
    self->finish(self->status_ != 0 ? self->status_ : (any ? 0 : UV_ETIMEDOUT));
  }
  void finish(int status) {
    if (finished_) {
      return;
    }
    finished_ = true;
    if (status == 0 && addresses_.empty()) {
      status = UV_EAI_NONAME;
    }
    if (cb_) {
      cb_(status, std::move(addresses_));
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&udp_), &UdpLookup::on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &UdpLookup::on_closed);
  }
  static void on_closed(uv_handle_t* h) noexcept {
    auto* self = static_cast<UdpLookup*>(h->data);
    if (++self->closed_ == 2) {
      delete self;
    }
  }

  uv_udp_t udp_{};
  uv_timer_t timer_{};
  std::string name_;
  Callback cb_;
  std::uint16_t id_a_ = 0, id_aaaa_ = 0;
  bool got_a_ = false, got_aaaa_ = false, finished_ = false;
  int status_ = 0;
  int closed_ = 0;
  std::vector<std::string> addresses_;
};

}  // namespace

Lookup* resolve(uv_loop_t* loop, const std::string& server, const std::string& name,
                Lookup::Callback cb) {
  if (server.empty()) {
    return new SystemLookup(loop, name, std::move(cb));
  }
  sockaddr_storage addr{};
  auto hp = io::split_host_port(server);
  if (!hp || !io::parse_ip(hp->host, hp->port, addr)) {
    return new SystemLookup(loop, name, std::move(cb));
  }
  return new UdpLookup(loop, addr, name, std::move(cb));
}

}  // namespace portcullis::gateway::egress
