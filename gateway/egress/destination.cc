#include "gateway/egress/destination.h"

#include <algorithm>
#include <vector>

#include "gateway/egress/address_class.h"
#include "gateway/io/uv.h"

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
