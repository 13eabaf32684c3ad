// http::LocalReply builders: what the gateway answers by itself, and its HTTP/1.1 text.
#include <catch2/catch.hpp>

#include "gateway/http/local_reply.h"

namespace http = portcullis::gateway::http;
using portcullis::gateway::Reason;

TEST_CASE("local replies: status, reason and one body line", "[local_reply]") {
  CHECK(http::misdirected_reply().status == 421);
  CHECK(http::overloaded_reply().status == 503);
  CHECK(http::overloaded_reply().why == Reason::memory_budget);
  const auto d = http::egress_denied_reply(403, Reason::egress_denied,
                                           Reason::egress_tunnel_not_allowed);
  CHECK(d.body == "egress denied: tunnel_not_allowed");
  CHECK(http::egress_tls_failure_line(Reason::name_mismatch) ==
        "egress TLS failure: name_mismatch");
  CHECK(http::direct_reply(200, "{tenant}/{tenant}\n", "x", "acme").body == "acme/acme");
}

TEST_CASE("local replies: HTTP/1.1 text closes the connection", "[local_reply]") {
  CHECK(http::http1_text({408, Reason::header_timeout, "request timeout", true}) ==
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n"
        "Connection: close\r\n\r\nrequest timeout\n");
  const std::string t = http::http1_text(http::egress_denied_reply(405, Reason::http_malformed,
                                                                   Reason::egress_bad_connect));
  CHECK(t.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0) == 0);
  CHECK(t.find("\r\n\r\negress denied: bad_connect\n") != std::string::npos);
}
