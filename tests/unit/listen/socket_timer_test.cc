// io::TlsSocket's timer: a later deadline is only recorded (the uv timer fires early and re-arms
// for the rest), an earlier one re-arms at once, 0 stops. Checked against the loop's own clock.
#include <catch2/catch.hpp>

#include <cstdint>

#include <uv.h>

#include "gateway/io/socket.h"

using portcullis::gateway::io::TlsSocket;

namespace {

struct TimerOwner : portcullis::gateway::io::SocketOwner {
  uv_loop_t* loop = nullptr;
  int fired = 0;
  std::uint64_t fired_at = 0;
  bool closed = false;
  void on_handshake_done() noexcept override {}
  void on_plaintext(std::string_view) noexcept override {}
  void on_peer_eof() noexcept override {}
  void on_transport_error(int) noexcept override {}
  void on_writable() noexcept override {}
  void on_timeout() noexcept override {
    ++fired;
    fired_at = uv_now(loop);
  }
  void on_closed() noexcept override { closed = true; }
};

// Runs the loop until the socket's timer fired or `guard_ms` of loop time passed.
void run_until_fired(uv_loop_t* loop, TimerOwner& owner, std::uint64_t guard_ms) {
  uv_timer_t guard;
  uv_timer_init(loop, &guard);
  guard.data = &owner;
  uv_timer_start(&guard, [](uv_timer_t* t) { uv_stop(t->loop); }, guard_ms, 0);
  for (int i = 0; i < 1000 && owner.fired == 0 && uv_is_active(reinterpret_cast<uv_handle_t*>(&guard)); ++i) {
    uv_run(loop, UV_RUN_ONCE);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
}

struct Fixture {
  uv_loop_t loop{};
  TimerOwner owner;
  TlsSocket* sock = nullptr;
  Fixture() {
    uv_loop_init(&loop);
    owner.loop = &loop;
    sock = new TlsSocket(&loop, owner);
  }
  ~Fixture() {
    sock->close();
    for (int i = 0; i < 100 && !owner.closed; ++i) {
      uv_run(&loop, UV_RUN_ONCE);
    }
    delete sock;
    uv_loop_close(&loop);
  }
};

}  // namespace

TEST_CASE("socket timer: a later deadline holds, once") {
  Fixture f;
  uv_update_time(&f.loop);
  const std::uint64_t start = uv_now(&f.loop);
  f.sock->set_timer(30);
  f.sock->set_timer(150);  // later: recorded, the armed timer re-arms when it fires
  run_until_fired(&f.loop, f.owner, 5000);
  REQUIRE(f.owner.fired == 1);
  CHECK(f.owner.fired_at >= start + 150);
  run_until_fired(&f.loop, f.owner, 200);  // nothing else is due
  CHECK(f.owner.fired == 1);
}

TEST_CASE("socket timer: an earlier deadline re-arms") {
  Fixture f;
  uv_update_time(&f.loop);
  f.sock->set_timer(60'000);
  f.sock->set_timer(20);
  run_until_fired(&f.loop, f.owner, 10'000);  // a guard well short of the first deadline
  CHECK(f.owner.fired == 1);
}

TEST_CASE("socket timer: 0 stops a recorded later deadline") {
  Fixture f;
  f.sock->set_timer(20);
  f.sock->set_timer(40);
  f.sock->set_timer(0);
  run_until_fired(&f.loop, f.owner, 150);
  CHECK(f.owner.fired == 0);
}
