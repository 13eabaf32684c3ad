// Test doubles for the HTTP/1.1 engine tests: a recording SessionOwner, an echoing upstream side,
// a response sink on the client side.
#pragma once

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "gateway/http/exchange.h"
#include "gateway/http/session.h"
#include "gateway/http/client.h"

namespace portcullis::gateway::http::testing {

// Records every call; routes new exchanges through `router` (none: the test answers later).
class FakeOwner : public SessionOwner {
 public:
  void start_exchange(Exchange& ex) noexcept override {
    started.push_back(&ex);
    heads.push_back(ex.request());
    if (router) {
      router(ex);
    }
  }
  void exchange_done(Exchange& ex) noexcept override {
    done_statuses.push_back(ex.response().status);
    started.erase(std::remove(started.begin(), started.end(), &ex), started.end());
  }
  void output_ready() noexcept override { ++output_ready_calls; }
  void request_rejected(int status, Reason why) noexcept override {
    rejected.push_back(status);
    reject_reasons.push_back(why);
  }

  std::function<void(Exchange&)> router;
  std::vector<Exchange*> started;  // exchanges not done yet
  std::vector<RequestHead> heads;  // every head ever started
  std::vector<int> done_statuses;
  std::vector<int> rejected;
  std::vector<Reason> reject_reasons;
  int output_ready_calls = 0;
};

// Answers 200 and streams the request body back, honouring both watermarks.
class Echo : public UpstreamSide {
 public:
  void start(Exchange& ex) {
    ex_ = &ex;
    ex.attach_upstream(*this);
    ex.response().status = 200;
    ex.response().headers.push_back(Header{"x-echo", "1"});
    ex.response().content_length = ex.request().has_body ? ex.request().content_length
                                                         : std::optional<std::uint64_t>(0);
    ex.response_head_ready();
    pump();
  }
  void on_request_body(Exchange&) noexcept override { pump(); }
  void on_response_body_consumed(Exchange&, std::size_t) noexcept override { pump(); }
  void on_downstream_abort(Exchange&) noexcept override { ex_ = nullptr; }
  std::size_t max_seen = 0;

 private:
  void pump() noexcept {
    if (ex_ == nullptr) {
      return;
    }
    BodyBuffer& in = ex_->request_body();
    BodyBuffer& out = ex_->response_body();
    max_seen = std::max({max_seen, in.size(), out.size()});
    std::size_t moved = 0;
    while (!in.empty() && !out.over_high()) {
      std::size_t n = std::min<std::size_t>(in.size(), 16384);
      out.append(in.peek().substr(0, n));
      in.consume(n);
      moved += n;
    }
    max_seen = std::max({max_seen, in.size(), out.size()});
    Exchange* ex = ex_;
    const bool done = in.finished();
    if (done) {
      out.set_eof();
      ex->detach_upstream();
      ex_ = nullptr;
    }
    if (moved > 0) {
      ex->request_body_consumed(moved);
    }
    if (moved > 0 || done) {
      ex->response_body_added();
    }
  }
  Exchange* ex_ = nullptr;
};

// The client-side downstream: counts callbacks; the test drains response_body() itself.
class Sink : public DownstreamSide {
 public:
  void on_response_head(Exchange&) noexcept override { ++heads; }
  void on_response_body(Exchange&) noexcept override { ++bodies; }
  void on_request_body_consumed(Exchange&, std::size_t n) noexcept override { consumed += n; }
  void on_upstream_abort(Exchange&) noexcept override { ++aborts; }
  int heads = 0;
  int bodies = 0;
  int aborts = 0;
  std::size_t consumed = 0;
};

class FakeClientOwner : public http::ClientOwner {
 public:
  void client_output_ready() noexcept override { ++output_ready_calls; }
  void client_capacity_available() noexcept override { ++capacity_calls; }
  bool client_retry(http::Exchange&) noexcept override { return false; }
  int output_ready_calls = 0;
  int capacity_calls = 0;
};

// Pulls everything a session has to say (bounded loop).
inline std::string pull_all(Session& s, std::size_t max = 1 << 20) {
  std::string out;
  for (int i = 0; i < 1000; ++i) {
    std::size_t before = out.size();
    s.pull_output(out, max);
    if (out.size() == before) {
      break;
    }
  }
  return out;
}

inline std::string pull_all(http::ClientSession& c, std::size_t max = 1 << 20) {
  std::string out;
  for (int i = 0; i < 1000; ++i) {
    std::size_t before = out.size();
    c.pull_output(out, max);
    if (out.size() == before) {
      break;
    }
  }
  return out;
}

// A complete 200 reply with a known length.
inline void reply(Exchange& ex, int status, std::string body, Headers extra = {}) {
  ex.response().status = status;
  ex.response().headers = std::move(extra);
  ex.response().content_length = body.size();
  ex.response_head_ready();
  ex.response_body().append(body);
  ex.response_body().set_eof();
  ex.response_body_added();
}

}  // namespace portcullis::gateway::http::testing
