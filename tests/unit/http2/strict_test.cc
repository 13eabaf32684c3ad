// HTTP/2 request strictness: malformed trailer sections (RFC 9113 8.1) and underscore spellings
// of gateway-owned fields.
#include <catch2/catch.hpp>

#include "tests/unit/http2/harness.h"

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct TrailerRun {
  std::int32_t id = 0;
  RawClient raw;
  Pair p;
};

// POSTs 10 body bytes then `trailers` (sent verbatim) to a held upstream.
void post_with_trailers(TrailerRun& run, const Fields& trailers) {
  run.p.sown.mode = FakeSessionOwner::Mode::hold;
  struct Src {
    const Fields* trailers;
    std::deque<std::string> keep;
  };
  static Src src;  // the provider outlives this call (nghttp2 reads it while pumping)
  src.trailers = &trailers;
  src.keep.clear();
  nghttp2_data_provider prov{};
  prov.source.ptr = &src;
  prov.read_callback = [](nghttp2_session* s, std::int32_t id, std::uint8_t* buf, std::size_t,
                          std::uint32_t* flags, nghttp2_data_source* source, void*) -> ssize_t {
    auto* sp = static_cast<Src*>(source->ptr);
    std::memcpy(buf, "0123456789", 10);
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    std::vector<nghttp2_nv> nva;
    for (const auto& [n, v] : *sp->trailers) {
      std::string& name = sp->keep.emplace_back(n);
      std::string& value = sp->keep.emplace_back(v);
      nva.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(name.data()),
                               reinterpret_cast<std::uint8_t*>(value.data()), name.size(),
                               value.size(), NGHTTP2_NV_FLAG_NO_COPY_NAME});
    }
    nghttp2_submit_trailer(s, id, nva.data(), nva.size());
    return 10;
  };
  Fields head = {{":method", "POST"}, {":scheme", "https"}, {":authority", "a.example"},
                 {":path", "/up"}};
  std::vector<nghttp2_nv> nva;
  for (auto& [n, v] : head) {
    nva.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(n.data()),
                             reinterpret_cast<std::uint8_t*>(v.data()), n.size(), v.size(),
                             NGHTTP2_NV_FLAG_NONE});
  }
  run.id = nghttp2_submit_request(run.raw.session, nullptr, nva.data(), nva.size(), &prov, nullptr);
  run.raw.pump(*run.p.server);
}

}  // namespace

TEST_CASE("h2: a malformed trailer section resets the stream and never completes upstream",
          "[http][h2]") {
  const Fields bad[] = {
      {{":path", "/other"}},
      {{"x-a", "a\r\nb: c"}},
      {{"transfer-encoding", "chunked"}},
  };
  for (const Fields& trailers : bad) {
    INFO(trailers[0].first);
    TrailerRun run;
    post_with_trailers(run, trailers);
    REQUIRE(run.p.sown.ups.size() == 1);
    FakeUpstream& up = *run.p.sown.ups[0];
    CHECK(up.aborted);  // the exchange went away before its body ended
    REQUIRE(run.raw.closed.count(run.id) == 1);
    CHECK(run.raw.closed[run.id] == NGHTTP2_PROTOCOL_ERROR);
    CHECK(run.p.sown.done == 1);
    CHECK(run.p.server->idle());
  }
}

TEST_CASE("h2: valid request trailers are kept for the upstream", "[http][h2]") {
  TrailerRun run;
  post_with_trailers(run, {{"x-checksum", "abc"}, {"x_forwarded_for", "6.6.6.6"},
                           {"x-request-id", "forged"}});
  REQUIRE(run.p.sown.ups.size() == 1);
  FakeUpstream& up = *run.p.sown.ups[0];
  REQUIRE(up.ex != nullptr);
  CHECK(up.ex->request_body().eof());
  const auto& t = up.ex->request().trailers;
  REQUIRE(t.size() == 1);
  CHECK(t[0].name == "x-checksum");
  CHECK(t[0].value == "abc");
}

TEST_CASE("h2: underscore spellings of gateway-owned fields are dropped", "[http][h2]") {
  Pair p;
  RawClient raw;
  raw.get({{"x_forwarded_for", "6.6.6.6"}, {"x_forwarded_client_cert", "By=evil"},
           {"x_request_id", "forged"}, {"content_length", "5"}, {"transfer_encoding", "x"},
           {"x_custom_thing", "kept"}});
  raw.pump(*p.server);
  REQUIRE(p.sown.heads.size() == 1);
  const auto& h = p.sown.heads[0].headers;
  REQUIRE(h.size() == 1);
  CHECK(h[0].name == "x_custom_thing");
}
