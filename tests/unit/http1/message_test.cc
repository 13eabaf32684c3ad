// Message helpers, BodyBuffer and Exchange plumbing.
#include <catch2/catch.hpp>

#include <string>

#include "gateway/http/exchange.h"
#include "gateway/http/message.h"
#include "tests/unit/http1/fakes.h"

using namespace portcullis::gateway;
using namespace portcullis::gateway::http;
using namespace portcullis::gateway::http::testing;

TEST_CASE("message: find_header, remove_header, is_hop_by_hop") {
  Headers h = {{"a", "1"}, {"b", "2"}, {"a", "3"}};
  REQUIRE(find_header(h, "a") != nullptr);
  CHECK(*find_header(h, "a") == "1");
  CHECK(find_header(h, "c") == nullptr);
  remove_header(h, "a");
  REQUIRE(h.size() == 1);
  CHECK(h[0].name == "b");
  for (const char* n : {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
                        "upgrade", "proxy-authenticate", "proxy-authorization", "trailer"}) {
    CHECK(is_hop_by_hop(n));
  }
  CHECK_FALSE(is_hop_by_hop("content-type"));
  CHECK_FALSE(is_hop_by_hop("trailers"));
  for (const char* n : {"tf", "upgradf", "trailex", "keep-alivf", "connectioN", "proxy-connectiom",
                        "transfer-encodinf", "proxy-authenticatf", "proxy-authorizatiom", ""}) {
    CHECK_FALSE(is_hop_by_hop(n));
  }
  CHECK_FALSE(is_hop_by_hop("host"));
}

TEST_CASE("message: BodyBuffer FIFO, watermark and eof") {
  BodyBuffer b;
  CHECK(b.empty());
  b.append("hello ");
  b.append("world");
  CHECK(b.size() == 11);
  b.consume(6);
  CHECK(b.peek() == "world");
  b.consume(2);
  CHECK(b.peek() == "rld");
  b.append("!");
  CHECK(b.peek() == "rld!");
  CHECK_FALSE(b.finished());
  b.set_eof();
  CHECK_FALSE(b.finished());
  b.consume(100);
  CHECK(b.finished());
  BodyBuffer big;
  big.append(std::string(kBodyHighWatermark - 1, 'x'));
  CHECK_FALSE(big.over_high());
  big.append("y");
  CHECK(big.over_high());
  std::string expect;
  for (int i = 0; i < 1000; ++i) {
    big.consume(kBodyHighWatermark / 100);
    big.append(std::string(kBodyHighWatermark / 100, static_cast<char>('a' + i % 26)));
  }
  CHECK(big.size() == kBodyHighWatermark);
  CHECK(big.peek().back() == static_cast<char>('a' + 999 % 26));
}

TEST_CASE("exchange: callbacks reach the right side") {
  Sink sink;
  struct Up : UpstreamSide {
    void on_request_body(Exchange&) noexcept override { ++body; }
    void on_response_body_consumed(Exchange&, std::size_t n) noexcept override { consumed += n; }
    void on_downstream_abort(Exchange&) noexcept override { ++aborts; }
    int body = 0;
    std::size_t consumed = 0;
    int aborts = 0;
  } up;
  {
    Exchange ex(sink);
    ex.attach_upstream(up);
    ex.request_body_added();
    ex.response_body_consumed(7);
    ex.request_body_consumed(3);
    CHECK(up.body == 1);
    CHECK(up.consumed == 7);
    CHECK(sink.consumed == 3);
    CHECK_FALSE(ex.response_started());
    ex.response_head_ready();
    CHECK(ex.response_started());
    CHECK(sink.heads == 1);
    ex.response_body_added();
    CHECK(sink.bodies == 1);
  }
  CHECK(up.aborts == 1);  // destroyed while attached
  {
    Exchange ex(sink);
    ex.attach_upstream(up);
    ex.detach_upstream();
  }
  CHECK(up.aborts == 1);
}

TEST_CASE("exchange: fail before and after the head") {
  Sink sink;
  struct Up : UpstreamSide {
    void on_request_body(Exchange&) noexcept override {}
    void on_response_body_consumed(Exchange&, std::size_t) noexcept override {}
    void on_downstream_abort(Exchange&) noexcept override { ++aborts; }
    int aborts = 0;
  } up;
  {
    Exchange ex(sink);
    ex.attach_upstream(up);
    ex.fail(503, Reason::no_healthy_endpoint);
    CHECK_FALSE(ex.has_upstream());
    CHECK(ex.response().status == 503);
    CHECK(ex.info().local);
    CHECK(ex.info().reason == Reason::no_healthy_endpoint);
    CHECK(*find_header(ex.response().headers, "content-type") == "text/plain");
    CHECK(ex.response().content_length == std::optional<std::uint64_t>(ex.response_body().size()));
    CHECK(ex.response_body().eof());
    CHECK(sink.heads == 1);
    CHECK(sink.aborts == 0);
  }
  CHECK(up.aborts == 0);
  {
    Exchange ex(sink);
    ex.attach_upstream(up);
    ex.response_head_ready();
    ex.fail(502, Reason::upstream_reset);
    CHECK(sink.aborts == 1);
    CHECK(ex.info().reason == Reason::upstream_reset);
    CHECK_FALSE(ex.info().local);
  }
  CHECK(up.aborts == 0);
  Exchange ex(sink);
  ex.local_reply(421, Reason::misdirected_host, "misdirected request");
  CHECK(ex.response_body().peek() == "misdirected request\n");
  CHECK(ex.response().content_length == std::optional<std::uint64_t>(20));
}

// The byte-class table against the RFC 9110 definitions, for every byte value.
TEST_CASE("message: token and field-value byte classes, every byte") {
  const std::string tchar_extra = "!#$%&'*+-.^_`|~";
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool token = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
                       (b >= '0' && b <= '9') || tchar_extra.find(c) != std::string::npos;
    const bool value_ok = b == '\t' || (b >= 0x20 && b != 0x7F);  // SP, VCHAR, obs-text
    INFO("byte " << b);
    CHECK(is_token_char(c) == token);
    CHECK(is_token(std::string(1, c)) == token);
    CHECK(is_token("ab" + std::string(1, c) + "cd") == token);
    CHECK(valid_field_value(std::string(1, c)) == value_ok);
    CHECK(valid_field_value("text " + std::string(1, c) + " more") == value_ok);
  }
  CHECK_FALSE(is_token(""));
  CHECK(valid_field_value(""));
  std::string mixed = "Mixed-CASE";
  lower_ascii_in_place(mixed);
  CHECK(mixed == "mixed-case");
}
