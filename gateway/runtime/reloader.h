// Reloader: where a reload's build runs and when a replaced generation is freed. Server owns one
// and keeps the policy (what to build, whether to publish it); this class keeps the mechanics.
//
// - A build for a configuration of `offloop_tenants()` or more tenants runs on one background
//   thread (100k tenants take seconds to minutes), smaller ones on the loop where they take
//   milliseconds. Either way the result reaches `apply` on the loop thread, one loop turn later.
// - A reload asked for while a build runs is remembered once and run after it (`rerun`).
// - A replaced generation of that size is kept for kReleaseDelayMs, then dropped on the
//   background thread and followed by malloc_trim; at most kMaxRetired are kept.
//
// Thread: every method on the loop thread; the destructor after the loop has stopped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <uv.h>

#include "gateway/snapshot/snapshot.h"

namespace portcullis::gateway::runtime {

class BackgroundThread;

class Reloader {
 public:
  // Runs on the background thread or inline; must not throw.
  using Build = std::function<BuildResult()>;
  // off_loop: the build ran on the background thread.
  using Apply = std::function<void(BuildResult built, bool off_loop)>;
  using Rerun = std::function<void()>;

  static constexpr std::uint64_t kReleaseDelayMs = 10'000;
  static constexpr std::size_t kMaxRetired = 2;
  static constexpr std::size_t kOffLoopTenants = 1000;

  Reloader();
  // Drops the retired generations on the background thread (queued work first), then joins it.
  ~Reloader();
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;

  // Once, before request(): the loop to deliver builds and run the release timer on.
  void start(uv_loop_t* loop, Apply apply, Rerun rerun);

  // Starts `build` (for a configuration of `tenants` tenants now), or, if one is running,
  // notes that one more is wanted after it.
  void request(std::size_t tenants, Build build);

  // Takes a replaced generation: a big one is released later off the loop; a small one is
  // dropped here, where the last reference goes.
  void retire(SnapshotPtr replaced);

  // In the owner's teardown, on the loop thread before the loop is closed: closes the release
  // timer. Retired generations stay until the destructor.
  void close() noexcept;

  // The tenant count from which builds and releases run off the loop: kOffLoopTenants, or
  // PORTCULLIS_OFFLOOP_TENANTS read once at construction (a test hook, not configuration).
  std::size_t offloop_tenants() const noexcept { return offloop_tenants_; }

 private:
  struct Job;
  static void on_built(uv_async_t* h) noexcept;
  static void on_release_timer(uv_timer_t* h) noexcept;
  void release_now();

  uv_loop_t* loop_ = nullptr;
  Apply apply_;
  Rerun rerun_;
  std::size_t offloop_tenants_ = kOffLoopTenants;
  bool running_ = false;  // a build is queued or running
  bool again_ = false;    // asked for again while it ran: one more build after it
  bool closed_ = false;
  // Heap-allocated: libuv frees it in the close callback, which may come after this object.
  uv_timer_t* release_timer_ = nullptr;
  std::vector<SnapshotPtr> retired_;
  std::unique_ptr<BackgroundThread> background_;
};

}  // namespace portcullis::gateway::runtime
