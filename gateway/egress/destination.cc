#include "gateway/egress/destination.h"

#include <algorithm>
#include <vector>

#include "gateway/egress/address_class.h"
#include "gateway/io/uv.h"
#include "routing/authority.h"
#include "routing/egress_policy.h"

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
  r.reason = Reason::egress_destination_private;
  r.detail = refused.empty() ? "no address" : refused;
  return r;
}

}  // namespace

// routing::parse_authority: brackets only around an IPv6 literal, so "[allowed.test]" names
// nothing. Other spellings are left to the policy (numeric ones are refused as ip_literal there).
// The port is optional here (443).
std::optional<Destination> parse_destination(std::string_view authority) {
  const auto a = routing::parse_authority(authority, routing::HostRule::any);
  if (!a || a->port == std::optional<std::uint16_t>{0} || a->host.empty()) {
    return std::nullopt;
  }
  Destination d;
  d.host = a->host;
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
                     r.reason = Reason::egress_destination_unresolved;
                     r.detail = uv_strerror(status);
                     cb(std::move(r));
                     return;
                   }
                   cb(choose(addrs, allow_private));
                 });
}

}  // namespace portcullis::gateway::egress

namespace portcullis::gateway::egress {

Reason policy_reason(std::string_view routing_reason) noexcept {
  if (routing_reason == routing::kEgressAllowed) {
    return Reason::egress_allowed;
  }
  if (routing_reason == routing::kEgressIdentityNotAllowed) {
    return Reason::egress_identity_not_allowed;
  }
  if (routing_reason == routing::kEgressIpLiteral) {
    return Reason::egress_ip_literal;
  }
  return Reason::egress_destination_not_listed;
}

}  // namespace portcullis::gateway::egress
