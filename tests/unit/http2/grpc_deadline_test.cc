// gRPC deadlines through the HTTP/2 client (Http2Client::expire) and "expect: 100-continue"
// through the HTTP/2 session, back to back in memory (harness.h).
#include <chrono>
#include <optional>

#include "gateway/http/grpc_timeout.h"
#include "harness.h"

namespace {

using Clock = Exchange::Clock;

std::unique_ptr<ClientReq> grpc_call(const char* timeout) {
  auto req = std::make_unique<ClientReq>("POST", "/svc.S/Call");
  RequestHead& r = req->ex->request();
  r.headers.push_back(Header{"content-type", "application/grpc"});
  r.headers.push_back(Header{"te", "trailers"});
  r.headers.push_back(Header{"grpc-timeout", timeout});
  return req;
}

std::string header_or_empty(const portcullis::gateway::http::Headers& h, const char* name) {
  const std::string* v = find_header(h, name);
  return v != nullptr ? *v : std::string();
}

}  // namespace

TEST_CASE("grpc deadline: expires before the response, upstream stream cancelled", "[grpc]") {
  Pair p;
  p.sown.mode = FakeSessionOwner::Mode::hold;
  auto req = grpc_call("10S");
  req->ex->apply_grpc_timeout(Clock::now());
  REQUIRE(req->ex->deadline().has_value());
  p.client->attach(*req->ex);
  p.pump();
  REQUIRE(p.sown.ups.size() == 1);
  // The upstream got the time left, not the client's 10S.
  const auto sent = portcullis::gateway::http::parse_grpc_timeout(
      header_or_empty(p.sown.heads[0].headers, "grpc-timeout"));
  REQUIRE(sent.has_value());
  CHECK(*sent <= std::chrono::seconds(10));
  CHECK(*sent > std::chrono::seconds(9));

  REQUIRE(p.client->next_deadline() == req->ex->deadline());
  p.client->expire(*req->ex->deadline() - std::chrono::milliseconds(1));  // not due yet
  CHECK(p.client->active() == 1);
  CHECK_FALSE(req->got_head);

  p.client->expire(*req->ex->deadline());
  CHECK(p.client->active() == 0);
  CHECK_FALSE(p.client->next_deadline().has_value());
  REQUIRE(req->got_head);
  CHECK(req->head.status == 200);
  CHECK(header_or_empty(req->head.headers, "grpc-status") == "4");
  CHECK(req->ex->info().reason == Reason::grpc_deadline_exceeded);
  p.pump();
  CHECK(p.sown.ups[0]->aborted);  // RST_STREAM CANCEL reached the upstream side
  CHECK(p.client->reusable());    // the other streams of the connection carry on
}

TEST_CASE("grpc deadline: a response under way ends with grpc-status 4 trailers", "[grpc]") {
  Pair p;
  p.sown.mode = FakeSessionOwner::Mode::hold;
  auto req = grpc_call("100m");
  req->ex->apply_grpc_timeout(Clock::now());
  p.client->attach(*req->ex);
  p.pump();
  REQUIRE(p.sown.ups.size() == 1);
  Exchange& sex = *p.sown.ups[0]->ex;
  sex.response().status = 200;
  sex.response().headers.push_back(Header{"content-type", "application/grpc"});
  sex.response_head_ready();
  sex.response_body().append(std::string("\0\0\0\0\0", 5));
  sex.response_body_added();
  p.pump();
  REQUIRE(req->got_head);
  CHECK(req->body.size() == 5);

  p.client->expire(*req->ex->deadline());
  CHECK(req->eof);
  CHECK_FALSE(req->aborted);
  CHECK(header_or_empty(req->ex->response().trailers, "grpc-status") == "4");
  p.pump();
  CHECK(p.sown.ups[0]->aborted);
}

TEST_CASE("grpc deadline: malformed or absent grpc-timeout sets none", "[grpc]") {
  auto bad = grpc_call("10x");
  bad->ex->apply_grpc_timeout(Clock::now());
  CHECK_FALSE(bad->ex->deadline().has_value());
  CHECK(header_or_empty(bad->ex->request().headers, "grpc-timeout") == "10x");  // as sent

  ClientReq plain("POST", "/x");  // not gRPC: grpc-timeout means nothing
  plain.ex->request().headers.push_back(Header{"grpc-timeout", "1m"});
  plain.ex->apply_grpc_timeout(Clock::now());
  CHECK_FALSE(plain.ex->deadline().has_value());
}

TEST_CASE("h2 session: expect 100-continue is taken off and answered on request", "[h2]") {
  Pair p;
  p.sown.mode = FakeSessionOwner::Mode::hold;
  ClientReq req("PUT", "/up", /*has_body=*/true);
  req.ex->request().headers.push_back(Header{"expect", "100-continue"});
  req.ex->request().content_length = 5;
  p.client->attach(*req.ex);
  p.pump();
  REQUIRE(p.sown.heads.size() == 1);
  CHECK(p.sown.heads[0].expect_continue);
  CHECK(find_header(p.sown.heads[0].headers, "expect") == nullptr);
  Exchange& sex = *p.sown.ups[0]->ex;
  const int before = p.sown.outputs;
  sex.continue_request();  // the 100 HEADERS frame goes out
  CHECK(p.sown.outputs > before);
  p.pump();
  CHECK_FALSE(req.got_head);  // an interim response is not the final one
  CHECK(p.client_ok);
  req.ex->request_body().append("hello");
  req.ex->request_body().set_eof();
  req.ex->request_body_added();
  p.pump();
  CHECK(p.sown.ups[0]->received == "hello");
  p.sown.ups[0]->respond(200, "ok");
  p.pump();
  REQUIRE(req.got_head);
  CHECK(req.head.status == 200);
  CHECK(req.body == "ok");
}
