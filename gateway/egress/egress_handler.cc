#include "gateway/egress/egress_handler.h"

#include <algorithm>

#include "gateway/egress/address_class.h"
#include "gateway/egress/resolver.h"
#include "gateway/runtime/server.h"
#include "gateway/runtime/worker.h"
#include "gateway/upstream/pool.h"

namespace portcullis::gateway::egress {
namespace {

struct Destination {
  std::string host;  // lower case, no brackets, no trailing dot
  std::uint16_t port = kDefaultEgressPort;
};

std::optional<Destination> parse_destination(std::string_view authority) {
  Destination d;
  std::string_view h = authority;
  std::string_view port;
  if (!h.empty() && h.front() == '[') {
    const auto close = h.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    port = h.substr(close + 1);
    h = h.substr(1, close - 1);
    if (!port.empty() && port.front() != ':') {
      return std::nullopt;
    }
    port = port.empty() ? port : port.substr(1);
  } else if (const auto colon = h.rfind(':'); colon != std::string_view::npos) {
    if (h.find(':') != colon) {
      return std::nullopt;  // a bare IPv6 literal must be bracketed
    }
    port = h.substr(colon + 1);
    h = h.substr(0, colon);
  }
  if (h.empty()) {
    return std::nullopt;
  }
  if (!port.empty()) {
    unsigned v = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || port.size() > 5) {
        return std::nullopt;
      }
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v == 0 || v > 65535) {
      return std::nullopt;
    }
    d.port = static_cast<std::uint16_t>(v);
  }
  d.host.assign(h);
  std::transform(d.host.begin(), d.host.end(), d.host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (d.host.back() == '.') {
    d.host.pop_back();
  }
  return d;
}

std::string destination_text(const Destination& d) {
  return d.host.find(':') != std::string::npos ? "[" + d.host + "]:" + std::to_string(d.port)
                                                : d.host + ":" + std::to_string(d.port);
}

// Holds the exchange while the destination resolves; it is the exchange's upstream side until
// the pool takes over, so a client that leaves cancels the lookup.
class EgressRequest final : public http::UpstreamSide {
 public:
  EgressRequest(runtime::Worker& worker, runtime::SnapshotPtr snap, std::uint32_t entry,
                Destination dest, std::string source, http::Exchange& ex)
      : worker_(worker),
        snap_(std::move(snap)),
        entry_(entry),
        dest_(std::move(dest)),
        source_(std::move(source)),
        ex_(&ex) {
    ex.attach_upstream(*this);
  }

  void start() {
    if (sockaddr_storage a{}; io::parse_ip(dest_.host, dest_.port, a)) {
      // An IP literal gets here only when an entry names exactly that literal.
      connect({dest_.host});
      return;
    }
    const std::string& server = snap_->config.gateway.resolver;
    lookup_ = resolve(worker_.loop(), server, dest_.host,
                      [this](int status, std::vector<std::string> addrs) {
                        lookup_ = nullptr;
                        if (status != 0) {
                          refuse(502, Reason::egress_resolve_failed, "resolve_failed",
                                 uv_strerror(status));
                          return;
                        }
                        connect(std::move(addrs));
                      });
  }

  void on_request_body(http::Exchange&) noexcept override {}
  void on_response_body_consumed(http::Exchange&, std::size_t) noexcept override {}
  void on_downstream_abort(http::Exchange&) noexcept override {
    ex_ = nullptr;
    if (lookup_ != nullptr) {
      lookup_->cancel();
    }
    delete this;
  }

 private:
  void connect(std::vector<std::string> addresses) {
    const config::EgressConfig& cfg = *snap_->egress[entry_].cfg;
    std::string chosen;
    std::string refused;
    for (const auto& a : addresses) {
      const AddressClass cls = classify(a);
      if (!cfg.allow_private && refused_by_default(cls)) {
        refused += (refused.empty() ? "" : ", ") + a + " (" + std::string(to_string(cls)) + ")";
        continue;
      }
      chosen = a;
      break;
    }
    if (chosen.empty()) {
      refuse(403, Reason::egress_private_address, "private_address",
             refused.empty() ? "no address" : refused);
      return;
    }
    upstream::Endpoint endpoint;
    endpoint.host_port = io::HostPort{dest_.host, dest_.port};
    sockaddr_storage addr{};
    io::parse_ip(chosen, dest_.port, addr);
    endpoint.address = addr;

    upstream::Target target;
    target.name = destination_text(dest_);
    target.ctx = snap_->egress[entry_].ctx.get();
    const bool literal = io::parse_ip(dest_.host, dest_.port, addr);
    target.sni = literal ? "" : dest_.host;  // SNI never carries an IP literal (RFC 6066)
    target.expect_dns = dest_.host;
    target.pins = cfg.pins;
    target.egress = true;
    target.source = source_;
    target.prefer_h2 = true;
    worker_.server().egress_decision(source_, target.name, true, "allowed", chosen);
    http::Exchange& ex = *ex_;
    ex.detach_upstream();
    ex.info().cluster = "egress:" + cfg.host;
    upstream::PoolKey key{snap_->generation, &snap_->egress[entry_],
                          dest_.host + "|" + io::to_string(reinterpret_cast<sockaddr*>(&addr))};
    worker_.pool().acquire(snap_, std::move(key), target, endpoint, ex);
    delete this;
  }

  void refuse(int status, Reason why, const char* reason, const std::string& detail) {
    worker_.server().egress_decision(source_, destination_text(dest_), false, reason, detail);
    http::Exchange& ex = *ex_;
    ex.detach_upstream();
    ex.local_reply(status, why, std::string("egress denied: ") + reason);
    delete this;
  }

  runtime::Worker& worker_;
  runtime::SnapshotPtr snap_;
  std::uint32_t entry_;
  Destination dest_;
  std::string source_;
  http::Exchange* ex_;
  Lookup* lookup_ = nullptr;
};

}  // namespace

void handle_egress(runtime::Worker& worker, const runtime::SnapshotPtr& snap,
                   const std::string& source_identity, http::Exchange& ex) {
  ex.info().tenant = "egress";
  auto dest = parse_destination(ex.request().authority);
  if (!dest) {
    worker.server().egress_decision(source_identity, ex.request().authority, false,
                                    "bad_destination", "");
    ex.local_reply(400, Reason::http_malformed, "egress: the request names no valid destination");
    return;
  }
  const routing::Decision d = snap->egress_policy.decide(source_identity, dest->host, dest->port);
  if (!d.allow || !d.rule) {
    worker.server().egress_decision(source_identity, destination_text(*dest), false,
                                    std::string(d.reason), "");
    ex.local_reply(403, Reason::egress_denied, "egress denied: " + std::string(d.reason));
    return;
  }
  auto* req = new EgressRequest(worker, snap, *d.rule, std::move(*dest), source_identity, ex);
  req->start();
}

}  // namespace portcullis::gateway::egress
