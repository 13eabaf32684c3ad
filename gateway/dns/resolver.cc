#include "gateway/dns/resolver.h"

#include <arpa/inet.h>
#include <ares.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <cstring>

#include "gateway/dns/cache.h"
#include "gateway/io/uv.h"
#include "routing/authority.h"

namespace portcullis::gateway::dns {
namespace {

// A timer with nothing better to wait for still wakes up this often while queries are in flight.
constexpr std::uint64_t kIdleTickMs = 1000;

int uv_status_of(int ares_status) noexcept {
  switch (ares_status) {
    case ARES_SUCCESS: return 0;
    case ARES_ENODATA:
    case ARES_ENOTFOUND: return UV_EAI_NONAME;
    case ARES_ETIMEOUT: return UV_ETIMEDOUT;
    case ARES_ECONNREFUSED: return UV_ECONNREFUSED;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED: return UV_EAI_AGAIN;
    case ARES_EBADNAME:
    case ARES_EBADQUERY: return UV_EINVAL;
    case ARES_ENOMEM: return UV_ENOMEM;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION: return UV_ECANCELED;
    default: return UV_EAI_FAIL;
  }
}

// "ip:port[, ip:port...]" -> c-ares server list; false when a piece is not a numeric address.
bool parse_servers(const std::string& csv, std::vector<ares_addr_port_node>& out) {
  std::size_t at = 0;
  while (at <= csv.size()) {
    std::size_t comma = csv.find(',', at);
    if (comma == std::string::npos) {
      comma = csv.size();
    }
    std::string piece = csv.substr(at, comma - at);
    at = comma + 1;
    piece.erase(0, piece.find_first_not_of(" \t"));
    piece.erase(piece.find_last_not_of(" \t") + 1);
    if (piece.empty()) {
      return false;
    }
    io::HostPort hp{piece, 53};
    if (auto split = io::split_host_port(piece)) {
      hp = *split;
    } else if (hp.host.front() == '[' && hp.host.back() == ']') {
      hp.host = hp.host.substr(1, hp.host.size() - 2);
    }
    ares_addr_port_node n{};
    n.udp_port = n.tcp_port = hp.port;
    const auto ip = routing::parse_ip_literal(hp.host);
    if (!ip) {
      return false;
    }
    n.family = ip->v6 ? AF_INET6 : AF_INET;
    if (ip->v6) {
      std::memcpy(&n.addr.addr6, ip->bytes.data(), 16);
    } else {
      std::memcpy(&n.addr.addr4, ip->bytes.data(), 4);
    }
    out.push_back(n);
  }
  for (std::size_t i = 0; i + 1 < out.size(); ++i) {
    out[i].next = &out[i + 1];
  }
  return !out.empty();
}

}  // namespace

struct LookupImpl;

struct Resolver::Impl {
  // One name being resolved, and everyone waiting for it.
  struct Inflight {
    Impl* impl;
    std::string key;
    std::vector<LookupImpl*> waiters;
  };
  struct Ready {
    LookupImpl* lookup;
    int status;
    std::vector<std::string> addresses;
  };
  // Heap-allocated so it can outlive the Impl until its close callback.
  struct Poll {
    uv_poll_t handle{};
    Impl* impl = nullptr;
    ares_socket_t fd = ARES_SOCKET_BAD;
  };

  Impl(uv_loop_t* l, Options o) : loop(l), opt(std::move(o)), cache(opt.max_cache_entries) {}

  void init();
  Lookup* resolve(const std::string& name, bool absolute, Lookup::Callback cb);
  void cancelled() noexcept;
  void pump() noexcept;
  void schedule() noexcept;
  void deliver() noexcept;
  void abandon_if_unwanted() noexcept;
  void close_timer() noexcept;
  bool idle() const noexcept {
    return inflight.empty() && ready.empty() && timer == nullptr && polls.empty();
  }

  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) noexcept;
  static void on_poll(uv_poll_t* h, int status, int events) noexcept;
  static void on_timer(uv_timer_t* t) noexcept;
  static void on_addrinfo(void* arg, int status, int timeouts, ares_addrinfo* res) noexcept;

  uv_loop_t* loop;
  Options opt;
  ares_channel channel = nullptr;
  int init_status = 0;
  Stats stats;
  Cache cache;
  std::unordered_map<std::string, Inflight*> inflight;
  std::unordered_map<ares_socket_t, Poll*> polls;
  uv_timer_t* timer = nullptr;
  std::deque<Ready> ready;
  bool check_abandon = false;
  bool destroying = false;
};

struct LookupImpl final : Lookup {
  explicit LookupImpl(Resolver::Impl* i, Callback c) : impl(i), cb(std::move(c)) {}
  void cancel() noexcept override {
    cb = nullptr;
    impl->cancelled();
  }
  Resolver::Impl* impl;
  Callback cb;
};

void Resolver::Impl::init() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  ares_options o{};
  o.flags = ARES_FLAG_NOALIASES;  // no HOSTALIASES file from the environment
  o.timeout = opt.timeout_ms;
  o.tries = opt.tries;
  o.sock_state_cb = &Impl::on_sock_state;
  o.sock_state_cb_data = this;
  const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
  if (ares_init_options(&channel, &o, mask) != ARES_SUCCESS) {
    channel = nullptr;
    init_status = UV_EAI_FAIL;
    return;
  }
  if (!opt.servers.empty()) {
    std::vector<ares_addr_port_node> nodes;
    if (!parse_servers(opt.servers, nodes)) {
      init_status = UV_EINVAL;
    } else if (ares_set_servers_ports(channel, nodes.data()) != ARES_SUCCESS) {
      init_status = UV_EAI_FAIL;
    }
  }
}

Lookup* Resolver::Impl::resolve(const std::string& name, bool absolute, Lookup::Callback cb) {
  ++stats.lookups;
  auto* l = new LookupImpl(this, std::move(cb));
  std::string key = name;
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (absolute && !key.empty() && key.back() != '.') {
    key += '.';  // a fully qualified name: c-ares applies no search domain and no hosts file
  }
  if (init_status != 0 || key.empty() || key.find('\0') != std::string::npos) {
    ready.push_back({l, init_status != 0 ? init_status : UV_EINVAL, {}});
    schedule();
    return l;
  }
  if (const CachedAnswer* hit = cache.find(key, uv_now(loop))) {
    ++stats.cache_hits;
    ready.push_back({l, hit->status, hit->addresses});
    schedule();
    return l;
  }
  if (auto it = inflight.find(key); it != inflight.end()) {
    it->second->waiters.push_back(l);
    return l;
  }
  ++stats.queries;
  auto* f = new Inflight{this, key, {l}};
  inflight.emplace(key, f);
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // May call on_addrinfo before returning (hosts file, bad name): that only queues the answer.
  ares_getaddrinfo(channel, key.c_str(), nullptr, &hints, &Impl::on_addrinfo, f);
  schedule();
  return l;
}

void Resolver::Impl::on_addrinfo(void* arg, int status, int, ares_addrinfo* res) noexcept {
  auto* f = static_cast<Inflight*>(arg);
  Impl& self = *f->impl;
  self.inflight.erase(f->key);
  std::vector<std::string> addresses;
  int ttl_s = -1;
  if (status == ARES_SUCCESS && res != nullptr) {
    for (auto* n = res->nodes; n != nullptr; n = n->ai_next) {
      addresses.push_back(io::ip_of(n->ai_addr));
      ttl_s = ttl_s < 0 ? n->ai_ttl : std::min(ttl_s, n->ai_ttl);
    }
    for (auto* c = res->cnames; c != nullptr; c = c->next) {
      ttl_s = std::min(ttl_s, c->ttl);  // the chain lives only as long as its shortest link
    }
  }
  if (res != nullptr) {
    ares_freeaddrinfo(res);
  }
  int uv_status = uv_status_of(status);
  if (uv_status == 0 && addresses.empty()) {
    uv_status = UV_EAI_NONAME;
  }
  if (self.destroying) {
    for (auto* l : f->waiters) {
      delete l;
    }
    delete f;
    return;
  }
  // Cache answers and "no such name" / "no address"; never failures, which the next lookup
  // should retry.
  const std::uint64_t now = uv_now(self.loop);
  if (uv_status == 0) {
    const std::uint64_t ttl_ms = static_cast<std::uint64_t>(std::max(ttl_s, 0)) * 1000;
    const std::uint64_t keep = std::clamp(ttl_ms, self.opt.min_ttl_ms,
                                          std::max(self.opt.min_ttl_ms, self.opt.max_ttl_ms));
    self.cache.put(f->key, {0, addresses, now + keep}, now);
  } else if (uv_status == UV_EAI_NONAME && self.opt.negative_ttl_ms > 0) {
    self.cache.put(f->key, {uv_status, {}, now + self.opt.negative_ttl_ms}, now);
  }
  for (auto* l : f->waiters) {
    self.ready.push_back({l, uv_status, addresses});
  }
  delete f;
}

void Resolver::Impl::cancelled() noexcept {
  check_abandon = true;
  schedule();
}

// Runs user callbacks; only ever from a libuv callback, never inside c-ares or resolve().
void Resolver::Impl::deliver() noexcept {
  while (!ready.empty()) {
    Ready r = std::move(ready.front());
    ready.pop_front();
    Lookup::Callback cb = std::move(r.lookup->cb);
    delete r.lookup;
    if (cb) {
      cb(r.status, std::move(r.addresses));
    }
  }
}

// When nobody waits for any query any more, stop them all, so their sockets and the timer
// close and the loop can end (a worker shutting down does not wait for a dead server).
void Resolver::Impl::abandon_if_unwanted() noexcept {
  check_abandon = false;
  if (inflight.empty()) {
    return;
  }
  for (const auto& [key, f] : inflight) {
    for (auto* l : f->waiters) {
      if (l->cb) {
        return;
      }
    }
  }
  ares_cancel(channel);  // on_addrinfo runs for each; the cancelled waiters are then dropped
}

void Resolver::Impl::pump() noexcept {
  deliver();
  if (check_abandon) {
    abandon_if_unwanted();
    deliver();
  }
  schedule();
}

void Resolver::Impl::schedule() noexcept {
  std::uint64_t due = 0;
  if (ready.empty() && !check_abandon) {
    if (inflight.empty()) {
      close_timer();
      return;
    }
    timeval tv{};
    if (ares_timeout(channel, nullptr, &tv) != nullptr) {
      due = static_cast<std::uint64_t>(tv.tv_sec) * 1000 +
            static_cast<std::uint64_t>(tv.tv_usec + 999) / 1000;
    } else {
      due = kIdleTickMs;
    }
  }
  if (timer == nullptr) {
    timer = new uv_timer_t{};
    uv_timer_init(loop, timer);
    timer->data = this;
  }
  uv_timer_start(timer, &Impl::on_timer, due, 0);
}

void Resolver::Impl::close_timer() noexcept {
  if (timer != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(timer),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer = nullptr;
  }
}

void Resolver::Impl::on_timer(uv_timer_t* t) noexcept {
  auto& self = io::owner_of<Impl>(t);
  if (self.channel != nullptr) {
    ares_process_fd(self.channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // retransmit, time out
  }
  self.pump();
}

void Resolver::Impl::on_sock_state(void* data, ares_socket_t fd, int readable,
                                   int writable) noexcept {
  auto& self = *static_cast<Impl*>(data);
  auto it = self.polls.find(fd);
  if (!readable && !writable) {
    // c-ares closes fd right after this returns: stop polling it first.
    if (it != self.polls.end()) {
      uv_close(reinterpret_cast<uv_handle_t*>(&it->second->handle),
               [](uv_handle_t* h) { delete static_cast<Poll*>(h->data); });
      self.polls.erase(it);
    }
    return;
  }
  Poll* p = nullptr;
  if (it != self.polls.end()) {
    p = it->second;
  } else {
    p = new Poll{};
    p->impl = &self;
    p->fd = fd;
    if (uv_poll_init_socket(self.loop, &p->handle, fd) != 0) {
      delete p;
      return;  // never readable to us: the query times out and moves on
    }
    p->handle.data = p;
    self.polls.emplace(fd, p);
  }
  const int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
  uv_poll_start(&p->handle, events, &Impl::on_poll);
}

void Resolver::Impl::on_poll(uv_poll_t* h, int status, int events) noexcept {
  auto* p = static_cast<Poll*>(h->data);
  Impl& self = *p->impl;
  // On a poll error let c-ares read and write: it sees the socket error and moves on.
  const bool rd = status < 0 || (events & UV_READABLE) != 0;
  const bool wr = status < 0 || (events & UV_WRITABLE) != 0;
  ares_process_fd(self.channel, rd ? p->fd : ARES_SOCKET_BAD, wr ? p->fd : ARES_SOCKET_BAD);
  self.pump();
}

Resolver::Resolver(uv_loop_t* loop, Options options)
    : impl_(std::make_unique<Impl>(loop, std::move(options))) {
  impl_->init();
}

Resolver::~Resolver() {
  Impl& i = *impl_;
  i.destroying = true;
  if (i.channel != nullptr) {
    ares_destroy(i.channel);  // on_addrinfo drops waiters; on_sock_state closes the polls
  }
  for (auto& r : i.ready) {
    delete r.lookup;
  }
  i.ready.clear();
  for (auto& [fd, p] : i.polls) {
    uv_close(reinterpret_cast<uv_handle_t*>(&p->handle),
             [](uv_handle_t* h) { delete static_cast<Impl::Poll*>(h->data); });
  }
  i.close_timer();
}

Lookup* Resolver::resolve(const std::string& name, bool absolute, Lookup::Callback cb) {
  return impl_->resolve(name, absolute, std::move(cb));
}

const Stats& Resolver::stats() const noexcept { return impl_->stats; }
int Resolver::init_status() const noexcept { return impl_->init_status; }
bool Resolver::idle() const noexcept { return impl_->idle(); }

Resolver& Resolver::for_loop(uv_loop_t* loop, const std::string& servers) {
  struct Entry {
    uv_loop_t* loop;
    std::string servers;
    std::unique_ptr<Resolver> resolver;
  };
  thread_local std::vector<Entry> all;
  for (auto& e : all) {
    if (e.loop == loop && e.servers == servers) {
      return *e.resolver;
    }
  }
  // The configured servers changed (a reload): forget this loop's idle resolvers.
  std::erase_if(all, [loop](const Entry& e) { return e.loop == loop && e.resolver->idle(); });
  Options o;
  o.servers = servers;
  all.push_back({loop, servers, std::make_unique<Resolver>(loop, std::move(o))});
  return *all.back().resolver;
}

}  // namespace portcullis::gateway::dns
