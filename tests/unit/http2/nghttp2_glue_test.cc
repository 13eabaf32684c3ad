// The shared nghttp2 plumbing: the callback builder and its one exception policy, driven through
// a real nghttp2 session, and the header helpers.
#include <catch2/catch.hpp>

#include <nghttp2/nghttp2.h>

#include <stdexcept>
#include <string>
#include <string_view>

#include "gateway/http/message.h"
#include "gateway/http/nghttp2_callbacks.h"
#include "gateway/http/nghttp2_glue.h"

namespace h2 = portcullis::gateway::http::h2;
using portcullis::gateway::http::Header;
using portcullis::gateway::http::Headers;

namespace {

// A server whose frame callback throws once it has been told to.
struct ThrowingServer {
  ThrowingServer() {
    h2::CallbackBuilder<ThrowingServer> b;
    b.on<&ThrowingServer::on_frame_recv>(nghttp2_session_callbacks_set_on_frame_recv_callback);
    session = b.server(this);
  }
  int on_frame_recv(const nghttp2_frame*) {
    ++frames;
    if (throw_now) {
      throw std::runtime_error("boom");
    }
    return 0;
  }
  void callback_failed() noexcept { ++failures; }

  h2::SessionPtr session;
  bool throw_now = false;
  int frames = 0;
  int failures = 0;
};

// A client preface + empty SETTINGS, as bytes.
std::string client_hello() {
  h2::CallbackBuilder<ThrowingServer> b;
  ThrowingServer dummy;
  h2::SessionPtr c = b.client(&dummy);
  REQUIRE(c != nullptr);
  REQUIRE(h2::submit_settings(c.get(), {}) == 0);
  std::string out;
  REQUIRE(h2::send_into(c.get(), out, 1 << 16));
  return out;
}

}  // namespace

TEST_CASE("h2 plumbing: a callback that throws fails the session, not the process",
          "[http][h2]") {
  const std::string hello = client_hello();
  REQUIRE_FALSE(hello.empty());

  ThrowingServer ok;
  REQUIRE(ok.session != nullptr);
  CHECK(h2::receive(ok.session.get(), hello) == static_cast<ssize_t>(hello.size()));
  CHECK(ok.frames == 1);
  CHECK(ok.failures == 0);

  ThrowingServer bad;
  bad.throw_now = true;
  CHECK(h2::receive(bad.session.get(), hello) == NGHTTP2_ERR_CALLBACK_FAILURE);
  CHECK(bad.frames == 1);
  CHECK(bad.failures == 1);
}

TEST_CASE("h2 plumbing: guard passes results through and maps throws", "[http][h2]") {
  ThrowingServer s;
  CHECK(h2::callback<ThrowingServer>(&s, [](ThrowingServer&) { return 7; }) == 7);
  CHECK(s.failures == 0);
  CHECK(h2::callback<ThrowingServer>(&s, [](ThrowingServer&) -> ssize_t {
          throw std::bad_alloc();
        }) == NGHTTP2_ERR_CALLBACK_FAILURE);
  CHECK(s.failures == 1);
}

TEST_CASE("h2 plumbing: NvList keeps only forwardable fields", "[http][h2]") {
  const Headers fields = {{":path", "/x"},         {"x-a", "1"},      {"content-length", "3"},
                          {"connection", "close"}, {"host", "a.example"}, {"", "empty"}};
  h2::NvList response(fields.size());
  response.add_status(204);
  response.add_fields(fields, /*drop_host=*/false);
  response.add_content_length(42);
  auto name = [](const nghttp2_nv& nv) { return std::string(h2::as_view(nv.name, nv.namelen)); };
  auto value = [](const nghttp2_nv& nv) { return std::string(h2::as_view(nv.value, nv.valuelen)); };
  REQUIRE(response.size() == 4);
  CHECK(name(response.data()[0]) == ":status");
  CHECK(value(response.data()[0]) == "204");
  CHECK(name(response.data()[1]) == "x-a");
  CHECK(name(response.data()[2]) == "host");
  CHECK(name(response.data()[3]) == "content-length");
  CHECK(value(response.data()[3]) == "42");

  h2::NvList request(fields.size());
  request.add_fields(fields, /*drop_host=*/true);
  REQUIRE(request.size() == 1);
  CHECK(name(request.data()[0]) == "x-a");
}

TEST_CASE("h2 plumbing: parse_decimal takes whole numbers only", "[http][h2]") {
  std::uint64_t n = 5;
  CHECK(h2::parse_decimal("123", n));
  CHECK(n == 123);
  CHECK_FALSE(h2::parse_decimal("12x", n));
  CHECK_FALSE(h2::parse_decimal("", n));
  CHECK_FALSE(h2::parse_decimal("-1", n));
  CHECK(n == 123);
  CHECK(h2::is_pseudo(":status"));
  CHECK_FALSE(h2::is_pseudo("status"));
}
