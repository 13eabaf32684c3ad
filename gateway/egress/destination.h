// Destination: where an egress request or tunnel goes, and the checks between the name and the
// address we connect to (our own resolution, then the address classes we refuse by default).
// Shared by the originating path (egress_handler) and CONNECT tunnels (tunnel).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <uv.h>

#include "gateway/egress/resolver.h"
#include "gateway/observe/reason.h"

namespace portcullis::gateway::egress {

// Default port when the request names none: the gateway always originates TLS.
inline constexpr std::uint16_t kDefaultEgressPort = 443;

struct Destination {
  std::string host;  // lower case, no brackets, no trailing dot
  std::uint16_t port = kDefaultEgressPort;
};

// "host", "host:port", "[v6]:port" -> Destination; nullopt when malformed.
std::optional<Destination> parse_destination(std::string_view authority);
// "host:port" / "[v6]:port" for logs.
std::string destination_text(const Destination& d);
// routing::EgressPolicy's decision word (routing/ knows no gateway Reason) as a Reason.
Reason policy_reason(std::string_view routing_reason) noexcept;

struct CheckResult {
  int status = 0;  // 0: ok; else the HTTP status to answer (403, 502)
  Reason why = Reason::none;
  Reason reason = Reason::none;  // audit/metrics: egress_destination_unresolved / _private
  std::string detail;   // addresses refused, resolver error
  std::string address;  // the checked address to connect to (text form)
};

// Resolves (unless the host is an IP literal) and picks the first address whose class is
// allowed. The callback runs exactly once unless the returned lookup is cancelled; for IP
// literals it runs before this returns (and nullptr is returned).
Lookup* check_destination(uv_loop_t* loop, const std::string& resolver, const Destination& d,
                          bool allow_private, std::function<void(CheckResult)> cb);

}  // namespace portcullis::gateway::egress
