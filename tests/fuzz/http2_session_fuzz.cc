// Fuzz target: bytes from a client into Http2Session (nghttp2), every request answered 200.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/http/session.h"
#include "tests/fuzz/session_driver.h"

namespace http = portcullis::gateway::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  http::fuzz::ReplyingOwner owner;
  http::ConnFacts facts;
  facts.client_ip = "192.0.2.1";
  facts.client_port = 40000;
  facts.sni = "shop.acme.example";
  facts.tls_version = "TLSv1.3";
  facts.alpn = "h2";
  facts.listener = "public";
  http::SessionLimits limits;
  limits.max_request_headers = 8 * 1024;  // small, so size limits are reachable
  limits.max_header_count = 32;
  limits.max_requests_per_connection = 100;
  limits.h2_max_concurrent_streams = 16;
  auto session = http::make_http2_session(owner, facts, limits);
  if (!session) {
    return 0;
  }
  http::fuzz::drive(*session, std::string_view(reinterpret_cast<const char*>(data), size));
  session.reset();
  return 0;
}
