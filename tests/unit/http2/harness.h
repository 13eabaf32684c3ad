// Test doubles for the HTTP/2 engine tests (back to back Http2Client/Http2Session, a raw nghttp2
// client for requests Http2Client would never send). Included by each http2 test file.
#pragma once

#include <catch2/catch.hpp>

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/http/exchange.h"
#include "gateway/http/session.h"
#include "gateway/http/client.h"

namespace {

using portcullis::gateway::Reason;
using portcullis::gateway::http::BodyBuffer;
using portcullis::gateway::http::DownstreamSide;
using portcullis::gateway::http::Exchange;
using portcullis::gateway::http::find_header;
using portcullis::gateway::http::Header;
using portcullis::gateway::http::kBodyHighWatermark;
using portcullis::gateway::http::RequestHead;
using portcullis::gateway::http::ResponseHead;
using portcullis::gateway::http::Session;
using portcullis::gateway::http::SessionLimits;
using portcullis::gateway::http::SessionOwner;
using portcullis::gateway::http::UpstreamSide;
using portcullis::gateway::http::ClientOwner;
using portcullis::gateway::http::ClientSession;
using portcullis::gateway::http::Http2ClientLimits;

constexpr std::size_t kUnlimited = static_cast<std::size_t>(-1);

// ---- client side: stands in for the downstream session that owns the client's Exchanges ----

struct ClientReq final : DownstreamSide {
  ClientReq(std::string method, std::string path, bool has_body = false) {
    ex = std::make_unique<Exchange>(*this);
    RequestHead& r = ex->request();
    r.method = std::move(method);
    r.scheme = "https";
    r.authority = "a.example";
    r.path = std::move(path);
    r.has_body = has_body;
    if (!has_body) {
      ex->request_body().set_eof();
    }
  }

  void on_response_head(Exchange& e) noexcept override {
    got_head = true;
    head = e.response();
    read();
  }
  void on_response_body(Exchange&) noexcept override { read(); }
  void on_request_body_consumed(Exchange&, std::size_t n) noexcept override { consumed += n; }
  void on_upstream_abort(Exchange&) noexcept override { aborted = true; }

  // Reads what the budget allows; returns bytes read.
  std::size_t read() noexcept {
    if (!ex) {
      return 0;
    }
    BodyBuffer& b = ex->response_body();
    const std::size_t n = std::min(b.size(), budget);
    if (n > 0) {
      body.append(b.peek().substr(0, n));
      b.consume(n);
      if (budget != kUnlimited) {
        budget -= n;
      }
      ex->response_body_consumed(n);
    }
    if (b.finished()) {
      eof = true;
    }
    return n;
  }

  std::unique_ptr<Exchange> ex;
  bool got_head = false;
  ResponseHead head;
  std::string body;
  bool eof = false;
  bool aborted = false;
  std::size_t consumed = 0;
  std::size_t budget = kUnlimited;
};

struct FakeClientOwner final : ClientOwner {
  void client_output_ready() noexcept override { ++outputs; }
  void client_capacity_available() noexcept override { ++capacity; }
  bool client_retry(Exchange&) noexcept override { return false; }
  int outputs = 0;
  int capacity = 0;
};

// ---- session side: stands in for routing + the upstream client ----

struct FakeUpstream final : UpstreamSide {
  explicit FakeUpstream(Exchange& e) noexcept : ex(&e) { e.attach_upstream(*this); }

  void on_request_body(Exchange&) noexcept override { step(); }
  void on_response_body_consumed(Exchange&, std::size_t) noexcept override { step(); }
  void on_downstream_abort(Exchange&) noexcept override {
    ex = nullptr;
    aborted = true;
  }

  // Without echo: swallow request body. With echo: move it to the response, watermark-bounded.
  void step() noexcept {
    if (ex == nullptr) {
      return;
    }
    BodyBuffer& req = ex->request_body();
    if (!echo) {
      received.append(req.peek());
      const std::size_t n = req.size();
      req.consume(n);
      if (n > 0) {
        ex->request_body_consumed(n);
      }
      return;
    }
    BodyBuffer& resp = ex->response_body();
    const std::size_t room =
        resp.size() >= kBodyHighWatermark ? 0 : kBodyHighWatermark - resp.size();
    const std::size_t n = std::min(room, req.size());
    if (n > 0) {
      resp.append(req.peek().substr(0, n));
      req.consume(n);
      ex->request_body_consumed(n);
    }
    if (req.finished() && !resp.eof()) {
      resp.set_eof();
    }
    Exchange* e = ex;
    if (resp.eof()) {
      ex->detach_upstream();
      ex = nullptr;
    }
    if (n > 0 || resp.eof()) {
      e->response_body_added();
    }
  }

  void start_echo() noexcept {
    echo = true;
    ResponseHead& r = ex->response();
    r.status = 200;
    r.content_length = ex->request().content_length;
    ex->response_head_ready();
    step();
  }

  void respond(int status, const std::string& body) noexcept {
    Exchange* e = ex;
    ResponseHead& r = e->response();
    r.status = status;
    r.headers.push_back(Header{"x-upstream", "fake"});
    r.content_length = body.size();
    r.has_body = true;
    e->response_body().append(body);
    e->response_body().set_eof();
    e->detach_upstream();
    ex = nullptr;
    e->response_head_ready();
    e->response_body_added();
  }

  Exchange* ex;
  bool echo = false;
  bool aborted = false;
  std::string received;
};

struct FakeSessionOwner final : SessionOwner {
  enum class Mode { table, echo, hold, local };

  void start_exchange(Exchange& ex) noexcept override {
    heads.push_back(ex.request());
    switch (mode) {
      case Mode::table: {
        ups.push_back(std::make_unique<FakeUpstream>(ex));
        auto it = table.find(ex.request().path);
        if (it == table.end()) {
          ups.back()->respond(404, "none\n");
        } else {
          ups.back()->respond(200, it->second);
        }
        break;
      }
      case Mode::echo:
        ups.push_back(std::make_unique<FakeUpstream>(ex));
        ups.back()->start_echo();
        break;
      case Mode::hold:
        ups.push_back(std::make_unique<FakeUpstream>(ex));
        break;
      case Mode::local:
        ex.local_reply(404, Reason::no_route, "no route");
        break;
    }
  }
  void exchange_done(Exchange& ex) noexcept override {
    ++done;
    done_status.push_back(ex.response().status);
  }
  void output_ready() noexcept override { ++outputs; }
  void request_rejected(int status, Reason why) noexcept override {
    rejected.emplace_back(status, why);
  }

  Mode mode = Mode::table;
  std::map<std::string, std::string> table;
  std::vector<RequestHead> heads;
  std::vector<std::unique_ptr<FakeUpstream>> ups;
  int done = 0;
  std::vector<int> done_status;
  int outputs = 0;
  std::vector<std::pair<int, Reason>> rejected;
};

struct Pair {
  explicit Pair(SessionLimits l = SessionLimits{}, Http2ClientLimits cl = Http2ClientLimits{})
      : limits(l) {
    client = portcullis::gateway::http::make_http2_client(cown, cl);
    server = portcullis::gateway::http::make_http2_session(sown, facts, limits);
  }

  // Moves bytes both ways (in small slices, as sockets would) until nothing moves.
  void pump() {
    for (int i = 0; i < 2000000; ++i) {
      bool progress = tick ? tick() : false;
      std::string a;
      client->pull_output(a, 16 * 1024);
      if (!a.empty()) {
        progress = true;
        server_ok = server->feed(a) && server_ok;
      }
      std::string b;
      server->pull_output(b, 16 * 1024);
      if (!b.empty()) {
        progress = true;
        client_ok = client->feed(b) && client_ok;
      }
      if (!progress) {
        return;
      }
    }
    FAIL("pump did not settle");
  }

  SessionLimits limits;
  portcullis::gateway::http::ConnFacts facts;
  FakeClientOwner cown;
  FakeSessionOwner sown;
  std::unique_ptr<ClientSession> client;
  std::unique_ptr<Session> server;
  std::function<bool()> tick;
  bool server_ok = true;
  bool client_ok = true;
};

// ---- a raw nghttp2 client, for requests Http2Client would never send ----

struct RawClient {
  RawClient() {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, std::int32_t id, std::uint32_t code, void* ud) -> int {
          static_cast<RawClient*>(ud)->closed[id] = code;
          return 0;
        });
    nghttp2_session_callbacks_set_on_header_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* n, std::size_t nl,
                const std::uint8_t* v, std::size_t vl, std::uint8_t, void* ud) -> int {
          if (std::string(reinterpret_cast<const char*>(n), nl) == ":status") {
            static_cast<RawClient*>(ud)->status[f->hd.stream_id] =
                std::stoi(std::string(reinterpret_cast<const char*>(v), vl));
          }
          return 0;
        });
    nghttp2_session_client_new(&session, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~RawClient() { nghttp2_session_del(session); }

  std::int32_t get(std::vector<std::pair<std::string, std::string>> extra,
                   std::string authority = "a.example") {
    std::vector<std::pair<std::string, std::string>> f = {
        {":method", "GET"}, {":scheme", "https"}, {":authority", authority}, {":path", "/"}};
    if (authority.empty()) {
      f.erase(f.begin() + 2);
    }
    f.insert(f.end(), extra.begin(), extra.end());
    std::vector<nghttp2_nv> nva;
    for (auto& [n, v] : f) {
      // NO_COPY_NAME: nghttp2 would lower-case a copied name; keep it alive until sent instead.
      std::string& name = keep.emplace_back(n);
      nva.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(name.data()),
                               reinterpret_cast<std::uint8_t*>(v.data()), name.size(), v.size(),
                               NGHTTP2_NV_FLAG_NO_COPY_NAME});
    }
    return nghttp2_submit_request(session, nullptr, nva.data(), nva.size(), nullptr, nullptr);
  }

  void pump(Session& server) {
    for (int i = 0; i < 10000; ++i) {
      bool progress = false;
      const std::uint8_t* data = nullptr;
      std::string a;
      for (ssize_t n; (n = nghttp2_session_mem_send(session, &data)) > 0;) {
        a.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      }
      if (!a.empty()) {
        progress = true;
        server.feed(a);
      }
      std::string b;
      server.pull_output(b, 1 << 20);
      if (!b.empty()) {
        progress = true;
        nghttp2_session_mem_recv(session, reinterpret_cast<const std::uint8_t*>(b.data()),
                                 b.size());
      }
      if (!progress) {
        return;
      }
    }
  }

  nghttp2_session* session = nullptr;
  std::deque<std::string> keep;
  std::map<std::int32_t, std::uint32_t> closed;
  std::map<std::int32_t, int> status;
};

}  // namespace
