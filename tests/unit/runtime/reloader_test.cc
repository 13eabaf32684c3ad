// Reloader on a real libuv loop: where builds run, the one extra build after a busy one, and
// when replaced generations are let go. Snapshots here are empty but for their tenant count.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include <uv.h>

#include "gateway/runtime/reloader.h"

namespace rt = portcullis::gateway::runtime;
using namespace std::chrono_literals;

namespace {

rt::SnapshotPtr snapshot_of(std::size_t tenants) {
  auto s = std::make_shared<rt::Snapshot>();
  s->tenants.resize(tenants);
  return s;
}

// A loop the test drives; closes what is left on it, as Server does.
struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  // Turns the loop until pred() or the deadline; the loop sleeps in epoll meanwhile.
  template <class Pred>
  bool run_until(Pred pred, std::chrono::milliseconds limit = 5000ms) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < end) {
      uv_run(&loop, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(1ms);
    }
    return pred();
  }
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!pred() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

struct Seen {
  int applied = 0;
  int reruns = 0;
  bool off_loop = false;
  std::uint64_t generation = 0;
};

rt::Reloader::Build build_of(std::uint64_t generation, std::thread::id* ran_on = nullptr) {
  return [generation, ran_on] {
    if (ran_on != nullptr) {
      *ran_on = std::this_thread::get_id();
    }
    rt::BuildResult b;
    auto s = std::make_shared<rt::Snapshot>();
    s->generation = generation;
    b.snapshot = s;
    return b;
  };
}

void start(rt::Reloader& r, Loop& l, Seen& seen) {
  r.start(
      &l.loop,
      [&seen](rt::BuildResult built, bool off_loop) {
        ++seen.applied;
        seen.off_loop = off_loop;
        seen.generation = built.snapshot ? built.snapshot->generation : 0;
      },
      [&seen] { ++seen.reruns; });
}

}  // namespace

TEST_CASE("reloader: small builds run on the loop, 1000+ tenants on the background thread",
          "[reloader]") {
  REQUIRE(rt::Reloader::kOffLoopTenants == 1000);
  Loop l;
  Seen seen;
  {
    rt::Reloader r;
    REQUIRE(r.offloop_tenants() == 1000);  // the test hook is not set under meson test
    start(r, l, seen);

    std::thread::id ran_on;
    r.request(999, build_of(2, &ran_on));
    CHECK(ran_on == std::this_thread::get_id());  // inline, before request() returned
    CHECK(seen.applied == 0);                     // ...but applied one loop turn later
    REQUIRE(l.run_until([&] { return seen.applied == 1; }));
    CHECK_FALSE(seen.off_loop);
    CHECK(seen.generation == 2);

    r.request(1000, build_of(3, &ran_on));
    REQUIRE(l.run_until([&] { return seen.applied == 2; }));
    CHECK(seen.off_loop);
    CHECK(ran_on != std::this_thread::get_id());
    CHECK(seen.generation == 3);
    CHECK(seen.reruns == 0);
    r.close();
  }
}

TEST_CASE("reloader: reloads asked for during a build make one more, after it", "[reloader]") {
  Loop l;
  Seen seen;
  rt::Reloader r;
  start(r, l, seen);
  std::promise<void> go;
  std::shared_future<void> gate = go.get_future().share();
  r.request(1000, [gate] {
    gate.wait();  // held on the background thread while two more reloads are asked for
    return rt::BuildResult{};
  });
  bool second_built = false;
  r.request(1000, [&second_built] {
    second_built = true;
    return rt::BuildResult{};
  });
  r.request(1000, build_of(9));
  go.set_value();
  REQUIRE(l.run_until([&] { return seen.applied == 1 && seen.reruns == 1; }));
  CHECK_FALSE(second_built);  // folded: the owner's rerun makes the next build itself
  l.run_until([] { return false; }, 50ms);
  CHECK(seen.applied == 1);
  CHECK(seen.reruns == 1);
  // Not busy any more: the next request builds.
  r.request(1000, build_of(10));
  REQUIRE(l.run_until([&] { return seen.applied == 2; }));
  CHECK(seen.generation == 10);
  CHECK(seen.reruns == 1);
  r.close();
}

TEST_CASE("reloader: small generations go at once, big ones later, at most two are kept",
          "[reloader]") {
  Loop l;
  Seen seen;
  std::weak_ptr<const rt::Snapshot> small, big[4];
  {
    rt::Reloader r;
    start(r, l, seen);
    {
      auto s = snapshot_of(10);
      small = s;
      r.retire(std::move(s));
    }
    CHECK(small.expired());

    for (auto& w : big) {
      auto s = snapshot_of(1000);
      w = s;
      r.retire(std::move(s));
    }
    // the third one went past kMaxRetired: the first three are released off the loop at once;
    // the fourth waits for the release timer (10 s)
    CHECK(eventually([&] { return big[0].expired() && big[1].expired() && big[2].expired(); }));
    l.run_until([] { return false; }, 100ms);
    CHECK_FALSE(big[3].expired());
    r.close();
  }
  // the destructor lets go of what is still held and joins the thread
  CHECK(big[3].expired());
}
