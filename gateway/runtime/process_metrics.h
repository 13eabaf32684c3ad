// Process metrics for /metrics, read at scrape time from /proc and getrlimit: the standard
// process_* families Prometheus client libraries export, and portcullis_build_info.
//
// Thread: the rendering thread (callbacks); publish() from the main thread.
#pragma once

#include <vector>

#include "gateway/observe/metrics.h"

namespace portcullis::gateway::runtime {

// process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds, and portcullis_build_info{version,commit,openssl,nghttp2,libuv} 1.
// The registrations are appended to `out` (kept by the caller).
void publish_process_metrics(observe::Registry& metrics,
                             std::vector<observe::CallbackRegistration>& out);

}  // namespace portcullis::gateway::runtime
