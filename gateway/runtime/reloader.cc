#include "gateway/runtime/reloader.h"

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <malloc.h>
#include <mutex>
#include <pthread.h>
#include <string>
#include <system_error>
#include <thread>

namespace portcullis::gateway::runtime {

// One background thread for reload builds and for releasing replaced generations, jobs in
// order. A thread per job let ASan's per-thread fake stacks and glibc's arenas grow with every
// reload (the SIGHUP storm test); libuv's pool also resolves names for egress.
class BackgroundThread {
 public:
  ~BackgroundThread() { stop(); }
  // Throws std::system_error when no thread can be made (the caller then works inline).
  void post(std::function<void()> job) {
    {
      std::lock_guard lock{mu_};
      if (!thread_.joinable()) {
        thread_ = std::thread([this] { run(); });
      }
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }
  // Runs what is queued, then ends the thread.
  void stop() {
    {
      std::lock_guard lock{mu_};
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  void run() {
    // Named for `top -H` and for the integration test that checks the build ran here.
    pthread_setname_np(pthread_self(), "portcullis-bg");
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock{mu_};
        cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) {
          return;
        }
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

namespace {

// Test hook, not configuration (it is in no config file and no contract): the integration
// tests set PORTCULLIS_OFFLOOP_TENANTS=1 so that a four-tenant gateway takes the background
// path that CI could otherwise only reach with 1000 tenant files. Anything but a positive
// integer is ignored.
std::size_t read_offloop_tenants() {
  const char* v = std::getenv("PORTCULLIS_OFFLOOP_TENANTS");
  if (v == nullptr || *v == '\0') {
    return Reloader::kOffLoopTenants;
  }
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (*end != '\0' || n == 0 || v[0] == '-') {
    std::fprintf(stderr, "portcullis: PORTCULLIS_OFFLOOP_TENANTS=%s ignored (not a positive "
                 "integer)\n", v);
    return Reloader::kOffLoopTenants;
  }
  std::fprintf(stderr, "portcullis: PORTCULLIS_OFFLOOP_TENANTS=%llu (test hook): reloads of "
               "that many tenants build and release off the main loop\n", n);
  return static_cast<std::size_t>(n);
}

}  // namespace

// One build in flight: `done` carries it back to the loop. Freed in done's close callback.
struct Reloader::Job {
  uv_async_t done{};
  Reloader* owner = nullptr;
  Build build;
  BuildResult built;
  bool off_loop = false;
};

Reloader::Reloader()
    : offloop_tenants_(read_offloop_tenants()), background_(std::make_unique<BackgroundThread>()) {}

Reloader::~Reloader() {
  close();  // normally done already by the owner's teardown, on the loop thread
  retired_.clear();
  background_->stop();  // runs what is queued (releases) first
}

void Reloader::start(uv_loop_t* loop, Apply apply, Rerun rerun) {
  loop_ = loop;
  apply_ = std::move(apply);
  rerun_ = std::move(rerun);
}

void Reloader::request(std::size_t tenants, Build build) {
  if (running_) {
    again_ = true;
    return;
  }
  running_ = true;
  auto* job = new Job;
  job->owner = this;
  job->build = std::move(build);
  job->done.data = job;
  // A ref'd handle: the loop does not end while a build is out, so `this` outlives it.
  uv_async_init(loop_, &job->done, &Reloader::on_built);
  if (tenants >= offloop_tenants_) {
    job->off_loop = true;
    try {
      background_->post([job] {
        job->built = job->build();
        uv_async_send(&job->done);
      });
      return;
    } catch (const std::system_error&) {  // no thread to be had: build here, as before
      job->off_loop = false;
    }
  }
  job->built = job->build();
  uv_async_send(&job->done);
}

void Reloader::on_built(uv_async_t* h) noexcept {
  auto* job = static_cast<Job*>(h->data);
  Reloader& self = *job->owner;
  self.running_ = false;
  BuildResult built = std::move(job->built);
  const bool off_loop = job->off_loop;
  uv_close(reinterpret_cast<uv_handle_t*>(h),
           [](uv_handle_t* c) { delete static_cast<Job*>(c->data); });
  self.apply_(std::move(built), off_loop);
  if (self.again_) {
    self.again_ = false;
    self.rerun_();  // the reload asked for while this one ran
  }
}

void Reloader::retire(SnapshotPtr replaced) {
  if (!replaced || replaced->tenants.size() < offloop_tenants_) {
    return;  // small: dropped where it is, as always
  }
  retired_.push_back(std::move(replaced));
  if (retired_.size() > kMaxRetired) {
    release_now();  // a reload storm must not pile generations up
  }
  if (closed_) {
    return;  // the destructor releases the rest
  }
  if (release_timer_ == nullptr) {
    release_timer_ = new uv_timer_t{};
    uv_timer_init(loop_, release_timer_);
    release_timer_->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(release_timer_));  // never holds up shutdown
  }
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(release_timer_)) == 0) {
    // Not pushed back by later reloads: a storm still releases every kReleaseDelayMs.
    uv_timer_start(release_timer_, &Reloader::on_release_timer, kReleaseDelayMs, 0);
  }
}

void Reloader::on_release_timer(uv_timer_t* h) noexcept {
  static_cast<Reloader*>(h->data)->release_now();
}

// A replaced generation (2.2 GiB at 100k tenants) would otherwise be freed by whoever drops it
// last: a worker in the middle of its requests, or the main loop. Here the background thread
// drops it and hands the freed pages back to the kernel (glibc keeps them: after a full
// rebuild RSS stayed at two generations). Both take seconds at that size: never on a loop.
void Reloader::release_now() {
  std::vector<SnapshotPtr> batch = std::move(retired_);
  retired_.clear();
  auto release = [batch = std::move(batch)]() mutable {
    batch.clear();
    malloc_trim(0);
  };
  try {
    background_->post(std::move(release));
  } catch (const std::system_error&) {
    release();  // no thread to be had: here, as before
  }
}

void Reloader::close() noexcept {
  closed_ = true;
  if (release_timer_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(release_timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    release_timer_ = nullptr;
  }
}

}  // namespace portcullis::gateway::runtime
