#include "gateway/runtime/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "gateway/runtime/build_commit.h"
#include "gateway/runtime/build_info.h"

namespace portcullis::gateway::runtime {

namespace {

// Fields 14, 15 (utime, stime, clock ticks) and 22 (starttime, ticks after boot) of
// /proc/self/stat; the command name (field 2) may hold spaces, so parse after its ')'.
struct Stat {
  double cpu_seconds = 0;
  double start_ticks = 0;
  bool ok = false;
};

Stat read_stat() {
  Stat st;
  std::ifstream f("/proc/self/stat");
  std::string line;
  if (!std::getline(f, line)) {
    return st;
  }
  const auto close = line.rfind(')');
  if (close == std::string::npos) {
    return st;
  }
  std::istringstream in(line.substr(close + 2));  // from field 3 (state)
  std::string field;
  double utime = 0;
  double stime = 0;
  for (int i = 3; i <= 22 && in >> field; ++i) {
    if (i == 14) {
      utime = std::stod(field);
    } else if (i == 15) {
      stime = std::stod(field);
    } else if (i == 22) {
      st.start_ticks = std::stod(field);
      st.ok = true;
    }
  }
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  st.cpu_seconds = (utime + stime) / hz;
  return st;
}

double boot_time_seconds() {
  std::ifstream f("/proc/stat");
  std::string key;
  double value = 0;
  while (f >> key) {
    if (key == "btime") {
      f >> value;
      return value;
    }
    f.ignore(1 << 20, '\n');
  }
  return 0;
}

double resident_bytes() {
  std::ifstream f("/proc/self/statm");
  double size = 0;
  double resident = 0;
  f >> size >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) {
    return 0;
  }
  double n = 0;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') {
      ++n;
    }
  }
  closedir(d);
  return n - 1;  // the directory stream's own descriptor
}

}  // namespace

void publish_process_metrics(observe::Registry& metrics,
                             std::vector<observe::CallbackRegistration>& out) {
  // The start time is fixed: read once, from the kernel's own record of it.
  const Stat at_start = read_stat();
  const double start_time =
      at_start.ok ? boot_time_seconds() + at_start.start_ticks / static_cast<double>(
                                                                     sysconf(_SC_CLK_TCK))
                  : 0;
  out.push_back(metrics.callback_counter(
      "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", {},
      [](observe::SampleSink& s) { s.add(read_stat().cpu_seconds); }));
  out.push_back(metrics.callback_gauge("process_resident_memory_bytes",
                                       "Resident memory size in bytes.", {},
                                       [](observe::SampleSink& s) { s.add(resident_bytes()); }));
  out.push_back(metrics.callback_gauge("process_open_fds", "Number of open file descriptors.",
                                       {}, [](observe::SampleSink& s) { s.add(open_fds()); }));
  out.push_back(metrics.callback_gauge(
      "process_max_fds", "Maximum number of open file descriptors.", {},
      [](observe::SampleSink& s) {
        rlimit rl{};
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
          s.add(rl.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(rl.rlim_cur));
        }
      }));
  out.push_back(metrics.callback_gauge(
      "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", {},
      [start_time](observe::SampleSink& s) { s.add(start_time); }));
  const LibraryVersions libs = linked_library_versions();
  out.push_back(metrics.callback_gauge(
      "portcullis_build_info",
      "Always 1; the labels say which build runs: version, commit and the library versions.",
      {"version", "commit", "openssl", "nghttp2", "libuv"},
      [libs](observe::SampleSink& s) {
        s.add({PORTCULLIS_VERSION, PORTCULLIS_BUILD_COMMIT, libs.openssl, libs.nghttp2,
               libs.libuv},
              1);
      }));
}

}  // namespace portcullis::gateway::runtime
