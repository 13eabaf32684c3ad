#include "gateway/egress/destination.h"

#include <algorithm>
#include <vector>

#include "gateway/egress/address_class.h"
#include "gateway/io/uv.h"
#include "routing/authority.h"

namespace portcullis::gateway::egress {
namespace {

CheckResult choose(const std::vector<std::string>& addresses, bool allow_private) {
  CheckResult r;
  std::string refused;
  for (const auto& a : addresses) {
    const AddressClass cls = classify(a);
    if (!allow_private && refused_by_default(cls)) {
      refused += (refused.empty() ? "" : ", ") + a + " (" + std::string(to_string(cls)) + ")";
      continue;
    }
    r.address = a;
    return r;
  }
  r.status = 403;
  r.why = Reason::egress_private_address;
  r.reason = "private_address";
  r.detail = refused.empty() ? "no address" : refused;
  return r;
}

}  // namespace

std::optional<Destination> parse_destination(std::string_view authority) {
  const auto a = routing::split_authority(authority);
  if (!a || a->port == std::optional<std::uint16_t>{0}) {
    return std::nullopt;
  }
  Destination d;
  d.host = routing::normalize_host(a->host);
  if (d.host.empty()) {
    return std::nullopt;  // "." alone
  }
  d.port = a->port.value_or(kDefaultEgressPort);
  return d;
}

std::string destination_text(const Destination& d) {
  return d.host.find(':') != std::string::npos ? "[" + d.host + "]:" + std::to_string(d.port)
                                                : d.host + ":" + std::to_string(d.port);
}

Lookup* check_destination(uv_loop_t* loop, const std::string& resolver, const Destination& d,
                          bool allow_private, std::function<void(CheckResult)> cb) {
  if (sockaddr_storage a{}; io::parse_ip(d.host, d.port, a)) {
    // An IP literal gets here only when an entry names exactly that literal.
    cb(choose({d.host}, allow_private));
    return nullptr;
  }
  return resolve(loop, resolver, d.host,
                 [cb = std::move(cb), allow_private](int status, std::vector<std::string> addrs) {
                   if (status != 0) {
                     CheckResult r;
                     r.status = 502;
                     r.why = Reason::egress_resolve_failed;
                     r.reason = "resolve_failed";
                     r.detail = uv_strerror(status);
                     cb(std::move(r));
                     return;
                   }
                   cb(choose(addrs, allow_private));
                 });
}

}  // namespace portcullis::gateway::egress
