// Http2Client and Http2Session back to back in memory: the client's output is the session's
// input and the other way round, pumped until both are quiet. Fakes stand in for the owners: a
// SessionOwner that answers from a table, echoes, holds or replies locally, and a client-side
// DownstreamSide that reads the response (optionally slowly, to exercise backpressure).
#include <catch2/catch.hpp>

#include "tests/unit/http2/harness.h"

TEST_CASE("h2: GET with a response body", "[http][h2]") {
  Pair p;
  p.sown.table["/hello?x=1"] = "hello world";
  ClientReq req("GET", "/hello?x=1");
  req.ex->request().headers.push_back(Header{"x-test", "1"});
  req.ex->request().headers.push_back(Header{"connection", "close"});  // hop-by-hop: dropped
  req.ex->request().headers.push_back(Header{"cookie", "a=1"});
  req.ex->request().headers.push_back(Header{"cookie", "b=2"});
  REQUIRE(p.client->can_take());
  p.client->attach(*req.ex);
  CHECK(p.client->active() == 1);
  p.pump();

  REQUIRE(p.sown.heads.size() == 1);
  const RequestHead& seen = p.sown.heads[0];
  CHECK(seen.method == "GET");
  CHECK(seen.scheme == "https");
  CHECK(seen.authority == "a.example");
  CHECK(seen.path == "/hello?x=1");
  CHECK_FALSE(seen.has_body);
  REQUIRE(find_header(seen.headers, "x-test") != nullptr);
  CHECK(*find_header(seen.headers, "x-test") == "1");
  CHECK(find_header(seen.headers, "connection") == nullptr);
  REQUIRE(find_header(seen.headers, "cookie") != nullptr);
  CHECK(*find_header(seen.headers, "cookie") == "a=1; b=2");
  for (const Header& h : seen.headers) {
    CHECK(h.name[0] != ':');
  }

  REQUIRE(req.got_head);
  CHECK(req.head.status == 200);
  REQUIRE(req.head.content_length.has_value());
  CHECK(*req.head.content_length == 11);
  REQUIRE(find_header(req.head.headers, "x-upstream") != nullptr);
  CHECK(req.body == "hello world");
  CHECK(req.eof);
  CHECK_FALSE(req.aborted);
  CHECK(p.sown.done == 1);
  CHECK(p.sown.rejected.empty());
  CHECK(p.server->idle());
  CHECK_FALSE(p.server->should_close());
  CHECK(p.client->active() == 0);
  CHECK(p.client->can_take());
  CHECK(p.client->reusable());
  CHECK(p.server_ok);
  CHECK(p.client_ok);
}

TEST_CASE("h2: POST echo of 5 MiB with backpressure", "[http][h2]") {
  Pair p;
  p.sown.mode = FakeSessionOwner::Mode::echo;
  constexpr std::size_t kTotal = 5 * 1024 * 1024;
  std::string payload(kTotal, '\0');
  for (std::size_t i = 0; i < kTotal; ++i) {
    payload[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  }
  ClientReq req("POST", "/echo", true);
  req.ex->request().content_length = kTotal;
  req.budget = 0;  // the reader is slow: it takes 8 KiB per turn

  std::size_t sent = 0;
  bool ended = false;
  bool stalled = true;  // first the reader takes nothing at all
  std::size_t max_client_req = 0;
  std::size_t max_client_resp = 0;
  std::size_t max_server_req = 0;
  std::size_t max_server_resp = 0;
  p.tick = [&]() {
    bool progress = false;
    Exchange& ex = *req.ex;
    while (sent < kTotal && !ex.request_body().over_high()) {
      const std::size_t n = std::min<std::size_t>(16 * 1024, kTotal - sent);
      ex.request_body().append(std::string_view(payload).substr(sent, n));
      sent += n;
      ex.request_body_added();
      progress = true;
    }
    if (sent == kTotal && !ended) {
      ended = true;
      ex.request_body().set_eof();
      ex.request_body_added();
      progress = true;
    }
    req.budget = stalled ? 0 : 8 * 1024;
    if (req.read() > 0) {
      progress = true;
    }
    max_client_req = std::max(max_client_req, ex.request_body().size());
    max_client_resp = std::max(max_client_resp, ex.response_body().size());
    for (auto& up : p.sown.ups) {
      if (up->ex != nullptr) {
        max_server_req = std::max(max_server_req, up->ex->request_body().size());
        max_server_resp = std::max(max_server_resp, up->ex->response_body().size());
      }
    }
    return progress;
  };
  p.client->attach(*req.ex);
  p.pump();
  // The reader is stalled: every window and buffer along the path fills, then the producer stops.
  CHECK(req.got_head);
  CHECK(req.body.empty());
  CHECK(sent < 6 * 64 * 1024);
  CHECK(sent >= 3 * 64 * 1024);

  stalled = false;
  p.pump();
  REQUIRE(req.got_head);
  CHECK(req.head.status == 200);
  CHECK(req.eof);
  CHECK(req.body.size() == kTotal);
  CHECK(req.body == payload);
  CHECK(req.consumed == kTotal);
  // Nothing buffers more than about two windows / watermarks anywhere along the path.
  const std::size_t bound = 2 * 64 * 1024;
  CHECK(max_client_req <= bound);
  CHECK(max_client_resp <= bound);
  CHECK(max_server_req <= bound);
  CHECK(max_server_resp <= bound);
  CHECK(max_server_req > 0);
  CHECK(p.sown.done == 1);
  CHECK(p.server->idle());
  CHECK(p.client->active() == 0);
}

// The upstream windows are Http2Client parameters: with the reader stalled, what arrives is
// exactly what the stream or connection window lets through.
std::size_t unread_response_bytes(Http2ClientLimits cl) {
  Pair p(SessionLimits{}, cl);
  p.sown.table["/big"] = std::string(512 * 1024, 'x');
  ClientReq req("GET", "/big");
  req.budget = 0;
  p.client->attach(*req.ex);
  p.pump();
  REQUIRE(req.got_head);
  CHECK(req.body.empty());
  return req.ex->response_body().size();
}

TEST_CASE("h2: the client's stream and connection windows are parameters", "[http][h2]") {
  CHECK(unread_response_bytes(Http2ClientLimits{}) == 64 * 1024);
  Http2ClientLimits small_stream;
  small_stream.stream_window = 16 * 1024;
  CHECK(unread_response_bytes(small_stream) == 16 * 1024);
  Http2ClientLimits small_connection;
  small_connection.stream_window = 1024 * 1024;
  small_connection.connection_window = 128 * 1024;
  CHECK(unread_response_bytes(small_connection) == 128 * 1024);
}

TEST_CASE("h2: 50 concurrent streams", "[http][h2]") {
  Pair p;
  std::vector<std::unique_ptr<ClientReq>> reqs;
  for (int i = 0; i < 50; ++i) {
    p.sown.table["/r" + std::to_string(i)] = std::string(static_cast<std::size_t>(i) * 997, 'x') +
                                             std::to_string(i);
    reqs.push_back(std::make_unique<ClientReq>("GET", "/r" + std::to_string(i)));
  }
  for (auto& r : reqs) {
    REQUIRE(p.client->can_take());
    p.client->attach(*r->ex);
  }
  CHECK(p.client->active() == 50);
  p.pump();
  for (int i = 0; i < 50; ++i) {
    INFO("stream " << i);
    CHECK(reqs[i]->head.status == 200);
    CHECK(reqs[i]->body == p.sown.table["/r" + std::to_string(i)]);
    CHECK(reqs[i]->eof);
  }
  CHECK(p.sown.done == 50);
  CHECK(p.server->idle());
  CHECK(p.client->active() == 0);
}

TEST_CASE("h2: client cancel reaches the session as RST_STREAM", "[http][h2]") {
  Pair p;
  p.sown.mode = FakeSessionOwner::Mode::hold;
  ClientReq req("GET", "/slow");
  p.client->attach(*req.ex);
  p.pump();
  REQUIRE(p.sown.ups.size() == 1);
  FakeUpstream& up = *p.sown.ups[0];
  CHECK_FALSE(up.aborted);
  CHECK_FALSE(p.server->idle());

  req.ex.reset();  // the client-side downstream goes away: Exchange dtor -> on_downstream_abort
  CHECK(p.client->active() == 0);
  p.pump();
  CHECK(up.aborted);
  CHECK(up.ex == nullptr);
  CHECK(p.sown.done == 1);
  CHECK(p.server->idle());
  CHECK(p.client->can_take());
}

TEST_CASE("h2: upstream abort after the response head resets the stream", "[http][h2]") {
  Pair p;
  p.sown.mode = FakeSessionOwner::Mode::hold;
  ClientReq req("GET", "/partial");
  p.client->attach(*req.ex);
  p.pump();
  REQUIRE(p.sown.ups.size() == 1);
  FakeUpstream& up = *p.sown.ups[0];
  Exchange& sex = *up.ex;
  sex.response().status = 200;
  sex.response().content_length = 100;
  sex.response_head_ready();
  sex.response_body().append("partial");
  sex.response_body_added();
  p.pump();
  REQUIRE(req.got_head);
  CHECK(req.head.status == 200);
  CHECK(req.body == "partial");
  CHECK_FALSE(req.aborted);

  up.ex = nullptr;
  sex.fail(502, Reason::upstream_reset);
  p.pump();
  CHECK(req.aborted);
  CHECK_FALSE(req.eof);
  CHECK(p.sown.done == 1);
  CHECK(p.server->idle());
  CHECK(p.client->active() == 0);
  CHECK(p.client->reusable());
}

TEST_CASE("h2: local reply", "[http][h2]") {
  Pair p;
  p.sown.mode = FakeSessionOwner::Mode::local;
  ClientReq req("GET", "/nowhere");
  p.client->attach(*req.ex);
  p.pump();
  REQUIRE(req.got_head);
  CHECK(req.head.status == 404);
  REQUIRE(find_header(req.head.headers, "content-type") != nullptr);
  CHECK(*find_header(req.head.headers, "content-type") == "text/plain");
  REQUIRE(req.head.content_length.has_value());
  CHECK(*req.head.content_length == 9);
  CHECK(req.body == "no route\n");
  CHECK(req.eof);
  REQUIRE(p.sown.done_status.size() == 1);
  CHECK(p.sown.done_status[0] == 404);
}

TEST_CASE("h2: start_drain sends GOAWAY and lets open streams finish", "[http][h2]") {
  Pair p;
  p.sown.mode = FakeSessionOwner::Mode::hold;
  ClientReq req("GET", "/held");
  p.client->attach(*req.ex);
  p.pump();
  REQUIRE(p.sown.ups.size() == 1);
  CHECK(p.client->reusable());

  p.server->start_drain();
  p.pump();
  CHECK_FALSE(p.client->reusable());
  CHECK_FALSE(p.client->can_take());
  CHECK_FALSE(p.server->should_close());  // one stream still open
  CHECK_FALSE(p.server->idle());

  p.sown.ups[0]->respond(200, "late");
  p.pump();
  CHECK(req.head.status == 200);
  CHECK(req.body == "late");
  CHECK(p.server->idle());
  CHECK(p.server->should_close());
  CHECK_FALSE(p.server->want_read());
}

TEST_CASE("h2: max concurrent streams is enforced with REFUSED_STREAM", "[http][h2]") {
  SessionLimits limits;
  limits.h2_max_concurrent_streams = 2;
  Pair p(limits);
  p.sown.mode = FakeSessionOwner::Mode::hold;
  std::vector<std::unique_ptr<ClientReq>> reqs;
  for (int i = 0; i < 5; ++i) {
    reqs.push_back(std::make_unique<ClientReq>("GET", "/q" + std::to_string(i)));
    // Before the server's SETTINGS arrive the client believes it may open 100 streams.
    REQUIRE(p.client->can_take());
    p.client->attach(*reqs.back()->ex);
  }
  p.pump();
  CHECK(p.sown.heads.size() == 2);
  int refused = 0;
  for (auto& r : reqs) {
    if (r->got_head && r->head.status == 502) {
      ++refused;
      CHECK(r->ex->info().local);
      CHECK(r->ex->info().reason == Reason::upstream_reset);
    }
  }
  CHECK(refused == 3);
  CHECK(p.sown.rejected.size() == 3);
  for (auto& [status, why] : p.sown.rejected) {
    CHECK(status == 503);
  }
  // The limit is now known to the client.
  CHECK_FALSE(p.client->can_take());

  for (auto& up : p.sown.ups) {
    up->respond(200, "ok");
  }
  p.pump();
  int ok = 0;
  for (auto& r : reqs) {
    ok += (r->head.status == 200 && r->body == "ok") ? 1 : 0;
  }
  CHECK(ok == 2);
  CHECK(p.client->can_take());
  CHECK(p.server->idle());
}

TEST_CASE("h2: host header disagreeing with :authority is rejected", "[http][h2]") {
  Pair p;
  RawClient raw;
  const std::int32_t bad = raw.get({{"host", "b.example"}});
  const std::int32_t good = raw.get({{"host", "A.Example"}});
  const std::int32_t host_only = raw.get({{"host", "c.example"}}, "");
  raw.pump(*p.server);

  REQUIRE(raw.closed.count(bad) == 1);
  CHECK(raw.closed[bad] == NGHTTP2_PROTOCOL_ERROR);
  CHECK(raw.status.count(bad) == 0);
  REQUIRE(p.sown.heads.size() == 2);  // never reached start_exchange
  CHECK(p.sown.heads[0].authority == "a.example");
  CHECK(p.sown.heads[1].authority == "c.example");
  CHECK(find_header(p.sown.heads[0].headers, "host") == nullptr);
  CHECK(raw.status[good] == 404);  // table is empty: the fake answers 404
  CHECK(raw.status[host_only] == 404);
  REQUIRE(p.sown.rejected.size() == 1);
  CHECK(p.sown.rejected[0].first == 400);
  CHECK(p.sown.rejected[0].second == Reason::misdirected_host);
  CHECK(p.server->idle());
}

TEST_CASE("h2: malformed fields are rejected before an exchange", "[http][h2]") {
  SessionLimits limits;
  limits.max_header_count = 8;
  Pair p(limits);
  RawClient raw;
  const std::int32_t upper = raw.get({{"X-Upper", "1"}});
  const std::int32_t conn = raw.get({{"connection", "keep-alive"}});
  const std::int32_t crlf = raw.get({{"x-evil", "a\r\nb: c"}});
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 10; ++i) {
    many.emplace_back("x-h" + std::to_string(i), "v");
  }
  const std::int32_t too_many = raw.get(many);
  const std::int32_t fine = raw.get({{"x-lower", "1"}});
  raw.pump(*p.server);

  for (std::int32_t id : {upper, conn, crlf}) {
    INFO("stream " << id);
    REQUIRE(raw.closed.count(id) == 1);
    CHECK(raw.closed[id] == NGHTTP2_PROTOCOL_ERROR);
    CHECK(raw.status.count(id) == 0);
  }
  // Over a header limit: a 431 response, as on HTTP/1.1, not a reset (issue #14).
  REQUIRE(raw.closed.count(too_many) == 1);
  CHECK(raw.closed[too_many] == NGHTTP2_NO_ERROR);
  CHECK(raw.status[too_many] == 431);
  CHECK(raw.status[fine] == 404);
  REQUIRE(p.sown.heads.size() == 1);
  CHECK(p.sown.heads[0].path == "/");
  CHECK(p.sown.rejected.size() == 4);
  bool saw_431 = false;
  for (auto& [status, why] : p.sown.rejected) {
    if (status == 431) {
      saw_431 = true;
      CHECK(why == Reason::headers_too_large);
    }
  }
  CHECK(saw_431);
  CHECK(p.server->idle());
  CHECK(p.server_ok);
}

TEST_CASE("h2: garbage instead of a preface is fatal", "[http][h2]") {
  Pair p;
  CHECK_FALSE(p.server->feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::string out;
  p.server->pull_output(out, 1 << 16);
  CHECK(p.server->should_close());
  CHECK(p.sown.heads.empty());
}

TEST_CASE("h2: session abort destroys every exchange", "[http][h2]") {
  Pair p;
  p.sown.mode = FakeSessionOwner::Mode::hold;
  ClientReq a("GET", "/a");
  ClientReq b("POST", "/b", true);
  p.client->attach(*a.ex);
  p.client->attach(*b.ex);
  p.pump();
  REQUIRE(p.sown.ups.size() == 2);
  p.server->abort();
  CHECK(p.sown.ups[0]->aborted);
  CHECK(p.sown.ups[1]->aborted);
  CHECK(p.sown.done == 2);
  CHECK(p.server->should_close());

  // The transport under the client goes too: both client exchanges get a local 502.
  p.client->abort(502, Reason::upstream_reset);
  CHECK(a.head.status == 502);
  CHECK(b.head.status == 502);
  CHECK(a.ex->info().reason == Reason::upstream_reset);
  CHECK(p.client->active() == 0);
  CHECK_FALSE(p.client->reusable());
  CHECK_FALSE(p.client->can_take());
}

TEST_CASE("h2: request budget per connection ends with GOAWAY", "[http][h2]") {
  SessionLimits limits;
  limits.max_requests_per_connection = 3;
  Pair p(limits);
  p.sown.table["/"] = "x";
  std::vector<std::unique_ptr<ClientReq>> reqs;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(p.client->can_take());
    reqs.push_back(std::make_unique<ClientReq>("GET", "/"));
    p.client->attach(*reqs.back()->ex);
    p.pump();
    CHECK(reqs.back()->body == "x");
  }
  CHECK(p.sown.done == 3);
  CHECK_FALSE(p.client->reusable());
  CHECK(p.server->should_close());
}

TEST_CASE("h2: request trailers end the request body", "[http][h2]") {
  Pair p;
  p.sown.mode = FakeSessionOwner::Mode::hold;
  RawClient raw;
  std::string body = "0123456789";
  struct Src {
    std::string* body;
    bool done = false;
  } src{&body};
  nghttp2_data_provider prov{};
  prov.source.ptr = &src;
  prov.read_callback = [](nghttp2_session* s, std::int32_t id, std::uint8_t* buf, std::size_t,
                          std::uint32_t* flags, nghttp2_data_source* source, void*) -> ssize_t {
    auto* sp = static_cast<Src*>(source->ptr);
    std::memcpy(buf, sp->body->data(), sp->body->size());
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    std::string n = "x-checksum";
    std::string v = "abc";
    nghttp2_nv trailer{reinterpret_cast<std::uint8_t*>(n.data()),
                       reinterpret_cast<std::uint8_t*>(v.data()), n.size(), v.size(),
                       NGHTTP2_NV_FLAG_NONE};
    nghttp2_submit_trailer(s, id, &trailer, 1);
    return static_cast<ssize_t>(sp->body->size());
  };
  std::string m = ":method", mv = "POST", sc = ":scheme", scv = "https", au = ":authority",
              auv = "a.example", pa = ":path", pav = "/up";
  nghttp2_nv nva[] = {
      {reinterpret_cast<std::uint8_t*>(m.data()), reinterpret_cast<std::uint8_t*>(mv.data()),
       m.size(), mv.size(), NGHTTP2_NV_FLAG_NONE},
      {reinterpret_cast<std::uint8_t*>(sc.data()), reinterpret_cast<std::uint8_t*>(scv.data()),
       sc.size(), scv.size(), NGHTTP2_NV_FLAG_NONE},
      {reinterpret_cast<std::uint8_t*>(au.data()), reinterpret_cast<std::uint8_t*>(auv.data()),
       au.size(), auv.size(), NGHTTP2_NV_FLAG_NONE},
      {reinterpret_cast<std::uint8_t*>(pa.data()), reinterpret_cast<std::uint8_t*>(pav.data()),
       pa.size(), pav.size(), NGHTTP2_NV_FLAG_NONE},
  };
  const std::int32_t id = nghttp2_submit_request(raw.session, nullptr, nva, 4, &prov, nullptr);
  raw.pump(*p.server);
  REQUIRE(p.sown.ups.size() == 1);
  FakeUpstream& up = *p.sown.ups[0];
  REQUIRE(up.ex != nullptr);
  CHECK(up.ex->request().has_body);
  CHECK(up.ex->request_body().eof());
  up.step();
  CHECK(up.received == body);
  CHECK(find_header(up.ex->request().headers, "x-checksum") == nullptr);
  up.respond(204, "");
  raw.pump(*p.server);
  CHECK(raw.status[id] == 204);
  CHECK(p.server->idle());
}

namespace {

std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload) {
  std::string f;
  const std::size_t n = payload.size();
  f.push_back(static_cast<char>((n >> 16) & 0xff));
  f.push_back(static_cast<char>((n >> 8) & 0xff));
  f.push_back(static_cast<char>(n & 0xff));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int shift = 24; shift >= 0; shift -= 8) {
    f.push_back(static_cast<char>((stream >> shift) & 0xff));
  }
  f.append(payload);
  return f;
}

// Error code of the first GOAWAY in `out`, or -1.
long goaway_code(const std::string& out) {
  std::size_t pos = 0;
  while (pos + 9 <= out.size()) {
    const auto* p = reinterpret_cast<const unsigned char*>(out.data() + pos);
    const std::size_t len = (std::size_t{p[0]} << 16) | (std::size_t{p[1]} << 8) | p[2];
    if (p[3] == NGHTTP2_GOAWAY && pos + 9 + len <= out.size() && len >= 8) {
      const unsigned char* e = p + 9 + 4;
      return static_cast<long>((std::uint32_t{e[0]} << 24) | (std::uint32_t{e[1]} << 16) |
                               (std::uint32_t{e[2]} << 8) | e[3]);
    }
    pos += 9 + len;
  }
  return -1;
}

}  // namespace

TEST_CASE("h2: an endless CONTINUATION chain is cut off", "[http][h2]") {
  Pair p;
  std::string in = NGHTTP2_CLIENT_MAGIC;
  in += frame(NGHTTP2_SETTINGS, 0, 0, "");
  in += frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, "\x82\x87\x84");
  for (int i = 0; i < 20; ++i) {
    in += frame(NGHTTP2_CONTINUATION, 0, 1, std::string_view("\x40\x01x\x01y", 5));
  }
  CHECK_FALSE(p.server->feed(in));
  std::string out;
  p.server->pull_output(out, 1 << 16);
  CHECK(goaway_code(out) == NGHTTP2_ENHANCE_YOUR_CALM);
  CHECK(p.server->should_close());
  CHECK(p.sown.heads.empty());
}

// [limits] max_request_body: a declared length is refused before routing; a body without one is
// cut off as it streams (the upstream side lets go without seeing the end) and answered 413.
TEST_CASE("h2: max_request_body", "[http][h2]") {
  SessionLimits limits;
  limits.max_request_body = 100 * 1024;
  Pair p(limits);
  p.sown.mode = FakeSessionOwner::Mode::hold;
  const bool declared = GENERATE(true, false);
  ClientReq req("POST", "/up", true);
  if (declared) {
    req.ex->request().content_length = 200 * 1024;
  }
  std::size_t sent = 0;
  p.tick = [&]() {
    Exchange& ex = *req.ex;
    bool progress = false;
    while (sent < 200 * 1024 && !ex.request_body().over_high()) {
      ex.request_body().append(std::string(16 * 1024, 'x'));
      sent += 16 * 1024;
      ex.request_body_added();
      progress = true;
    }
    if (sent == 200 * 1024 && !ex.request_body().eof()) {
      ex.request_body().set_eof();
      ex.request_body_added();
      progress = true;
    }
    return req.read() > 0 || progress;
  };
  p.client->attach(*req.ex);
  p.pump();
  REQUIRE(req.got_head);
  CHECK(req.head.status == 413);
  CHECK(req.body == "request body too large\n");
  REQUIRE(p.sown.done_status.size() == 1);
  CHECK(p.sown.done_status[0] == 413);
  if (declared) {
    CHECK(p.sown.heads.empty());  // never routed
  } else {
    REQUIRE(p.sown.ups.size() == 1);
    CHECK(p.sown.ups[0]->aborted);
    CHECK(p.sown.ups[0]->received.size() <= limits.max_request_body);
  }
}
