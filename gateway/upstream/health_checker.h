// HealthChecker: active health checks. GET <health_path> on every endpoint of every cluster that
// sets one, through the same pool, mTLS and identity checks as real traffic; 2xx/3xx is a pass.
//
// Thread:   one worker's loop (worker 0), so each endpoint is probed once per interval for the
//           whole process; results land in the shared EndpointHealth records that every
//           worker's pool reads.
// Lifetime: owned by that Worker; close() before the loop ends.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>

namespace portcullis::gateway::upstream {

class WorkerContext;

class HealthChecker {
 public:
  explicit HealthChecker(WorkerContext& worker);
  ~HealthChecker();
  void start();
  void close();

 private:
  struct Probe;
  static void on_tick(uv_timer_t* t) noexcept;
  void tick();

  WorkerContext& worker_;
  uv_timer_t timer_{};
  bool closed_ = false;
  std::map<std::string, std::chrono::steady_clock::time_point> next_due_;  // per cluster
  std::map<std::string, std::unique_ptr<Probe>> probes_;                   // per endpoint
};

}  // namespace portcullis::gateway::upstream
