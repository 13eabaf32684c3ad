// The shared llhttp plumbing: every callback runs under one exception policy; driven through a
// real parser.
#include <catch2/catch.hpp>

#include <llhttp.h>

#include <stdexcept>
#include <string>
#include <string_view>

#include "gateway/http/llhttp_glue.h"
#include "gateway/http/message.h"

namespace h1 = portcullis::gateway::http::h1;

namespace {

struct ThrowingParser {
  ThrowingParser() { h1::start_parser(parser, HTTP_REQUEST, settings(), this); }

  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t t;
      llhttp_settings_init(&t);
      t.on_url = [](llhttp_t* p, const char* at, std::size_t len) noexcept {
        return h1::callback<ThrowingParser>(p, [&](ThrowingParser& self) {
          self.url.append(at, len);
          if (self.throw_now) {
            throw std::runtime_error("boom");
          }
          return 0;
        });
      };
      t.on_message_complete = [](llhttp_t* p) noexcept {
        return h1::callback<ThrowingParser>(
            p, [](ThrowingParser&) { return static_cast<int>(HPE_PAUSED); });
      };
      return t;
    }();
    return s;
  }
  void callback_failed() noexcept { ++failures; }

  llhttp_t parser{};
  std::string url;
  bool throw_now = false;
  int failures = 0;
};

}  // namespace

TEST_CASE("h1 plumbing: a callback that throws is a parse error, not a crash", "[http][h1]") {
  const std::string req = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b";

  ThrowingParser ok;
  const h1::Executed run = h1::execute(ok.parser, req.data(), req.size());
  CHECK(run.err == HPE_PAUSED);
  CHECK(std::string_view(req).substr(run.used) == "GET /b");
  CHECK(ok.url == "/a");
  CHECK(ok.failures == 0);

  ThrowingParser bad;
  bad.throw_now = true;
  const h1::Executed failed = h1::execute(bad.parser, req.data(), req.size());
  CHECK(failed.err == HPE_USER);
  CHECK(bad.failures == 1);
}

TEST_CASE("h1 plumbing: connection_tokens", "[http][h1]") {
  using portcullis::gateway::http::connection_tokens;
  CHECK(connection_tokens(" Close ,\tX-Foo,, keep-alive ") ==
        std::vector<std::string>{"close", "x-foo", "keep-alive"});
  CHECK(connection_tokens("").empty());
  CHECK(connection_tokens(" , ").empty());
}
