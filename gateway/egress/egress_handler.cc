#include "gateway/egress/egress_handler.h"

#include <algorithm>

#include "gateway/egress/destination.h"
#include "gateway/events/events.h"
#include "gateway/upstream/pool.h"

namespace portcullis::gateway::egress {
namespace {

// Holds the exchange while the destination resolves; it is the exchange's upstream side until
// the pool takes over, so a client that leaves cancels the lookup.
class EgressRequest final : public http::UpstreamSide {
 public:
  EgressRequest(upstream::WorkerContext& worker, runtime::SnapshotPtr snap, std::uint32_t entry,
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
    const config::EgressConfig& cfg = *snap_->egress[entry_].cfg;
    Lookup* l = check_destination(worker_.loop(), snap_->config.gateway.resolver, dest_,
                                  cfg.allow_private, [this](CheckResult r) {
                                    lookup_ = nullptr;
                                    if (r.status != 0) {
                                      refuse(r.status, r.why, r.reason, r.detail);
                                      return;
                                    }
                                    connect(r.address);
                                  });
    // For an IP literal the callback already ran and `this` is gone (l is null then).
    if (l != nullptr) {
      lookup_ = l;
    }
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
  void connect(const std::string& chosen) {
    const config::EgressConfig& cfg = *snap_->egress[entry_].cfg;
    upstream::Endpoint endpoint;
    endpoint.host_port = io::HostPort{dest_.host, dest_.port};
    sockaddr_storage addr{};
    io::parse_ip(chosen, dest_.port, addr);
    endpoint.address = addr;

    upstream::Target target;
    target.name = destination_text(dest_);
    target.metrics_cluster = "egress:" + cfg.host;
    target.ctx = snap_->egress[entry_].ctx.get();
    const bool literal = io::parse_ip(dest_.host, dest_.port, addr);
    target.sni = literal ? "" : dest_.host;  // SNI never carries an IP literal (RFC 6066)
    target.expect_dns = dest_.host;
    target.pins = cfg.pins;
    target.egress = true;
    target.source = source_;
    target.prefer_h2 = true;
    worker_.events().egress_decision(source_, target.name, true, Reason::egress_allowed,
                                     chosen);
    http::Exchange& ex = *ex_;
    ex.detach_upstream();
    ex.info().cluster = target.metrics_cluster;
    upstream::PoolKey key{snap_->generation, &snap_->egress[entry_],
                          dest_.host + "|" + io::to_string(reinterpret_cast<sockaddr*>(&addr))};
    worker_.pool().acquire(snap_, std::move(key), target, endpoint, ex);
    delete this;
  }

  void refuse(int status, Reason why, Reason audit_reason, const std::string& detail) {
    worker_.events().egress_decision(source_, destination_text(dest_), false, audit_reason,
                                     detail);
    http::Exchange& ex = *ex_;
    ex.detach_upstream();
    ex.local_reply(status, why, "egress denied: " + std::string(to_string(audit_reason)));
    delete this;
  }

  upstream::WorkerContext& worker_;
  runtime::SnapshotPtr snap_;
  std::uint32_t entry_;
  Destination dest_;
  std::string source_;
  http::Exchange* ex_;
  Lookup* lookup_ = nullptr;
};

}  // namespace

void handle_egress(upstream::WorkerContext& worker, const runtime::SnapshotPtr& snap,
                   const std::string& source_identity, http::Exchange& ex) {
  ex.info().tenant = "egress";
  auto dest = parse_destination(ex.request().authority);
  if (!dest) {
    worker.events().egress_decision(source_identity, ex.request().authority, false,
                                    Reason::egress_bad_destination, "");
    ex.local_reply(400, Reason::http_malformed, "egress: the request names no valid destination");
    return;
  }
  const routing::Decision d = snap->egress_policy.decide(source_identity, dest->host, dest->port);
  if (!d.allow || !d.rule) {
    worker.events().egress_decision(source_identity, destination_text(*dest), false,
                                    policy_reason(d.reason), "");
    ex.local_reply(403, Reason::egress_denied, "egress denied: " + std::string(d.reason));
    return;
  }
  auto* req = new EgressRequest(worker, snap, *d.rule, std::move(*dest), source_identity, ex);
  req->start();
}

}  // namespace portcullis::gateway::egress
