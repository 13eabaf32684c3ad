// Log writing shared by the access and audit logs, and the access log itself.
//
// JsonLine: builds one JSON object, in insertion order, escaping everything JSON requires plus
//   every byte that is not valid UTF-8 (as \u00XX), so a log line is always valid JSON whatever a
//   client sent. Single-threaded value type.
// LogFile: an append-only file ("-" = stdout, "" = disabled, "syslog" = syslog(3), which the
//   journal also collects). write() appends line + '\n' with
//   one writev() on an O_APPEND descriptor, so concurrent whole lines never interleave; it never
//   throws and never stops traffic: a failed write is counted (write_failures()) and dropped.
//   reopen() (SIGUSR1, after logrotate) swaps the descriptor under an exclusive lock.
//   Thread: write() from any thread (workers); open()/reopen() from the main thread.
// AccessLog: one line per request with the CONTRACT.md fields. Thread: as LogFile.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

#include <sys/file.h>

namespace portcullis::gateway::observe {

class JsonLine {
 public:
  JsonLine& add(std::string_view key, std::string_view value);
  JsonLine& add(std::string_view key, const char* value) {
    return add(key, std::string_view(value == nullptr ? "" : value));
  }
  JsonLine& add(std::string_view key, const std::string& value) {
    return add(key, std::string_view(value));
  }
  JsonLine& add(std::string_view key, std::int64_t value);
  JsonLine& add(std::string_view key, std::uint64_t value);
  JsonLine& add(std::string_view key, int value) { return add(key, std::int64_t{value}); }
  JsonLine& add_bool(std::string_view key, bool value);

  // The object, "{...}", without a newline.
  std::string str() const { return buf_ + "}"; }

  // Appends `s` as a JSON string literal (with quotes) to `out`.
  static void append_escaped(std::string& out, std::string_view s);

 private:
  void key(std::string_view k);
  std::string buf_ = "{";
};

// "2026-11-23T10:53:55.123Z": UTC, millisecond precision.
std::string rfc3339(std::chrono::system_clock::time_point t);
std::string rfc3339_now();

// The [log] path that means syslog(3) rather than a file.
inline constexpr std::string_view kSyslogPath = "syslog";

class LogFile {
 public:
  LogFile() = default;
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  // "-" writes to `dash_fd` (stdout by default), "" disables the log, "syslog" sends each line
  // to syslog(3) at `syslog_priority`, anything else is opened O_WRONLY|O_APPEND|O_CREAT (0640). Returns false (and stays disabled) when the file cannot
  // be opened.
  bool open(const std::string& path, int dash_fd = 1, int syslog_priority = 0);
  // Reopens the same path (a no-op for "-" and ""). Keeps the old descriptor on failure.
  bool reopen() noexcept;
  // Appends line + '\n'. Never throws; failures are counted.
  void write(std::string_view line) noexcept;

  bool enabled() const noexcept;
  const std::string& path() const noexcept { return path_; }

  // Calls f(fd) under the descriptor's lock; fd is -1 for "-" and when disabled.
  template <class F>
  void with_fd(F&& f) {
    std::shared_lock lock(fd_mu_);
    f(is_dash_ || is_syslog_ ? -1 : fd_);
  }
  // Appends the line make(fd) returns while holding an exclusive flock on the file (none for
  // "-", fd = -1), so another process appending to the same file cannot slip a line between
  // make() reading the file's tail and the write (the audit chain).
  template <class F>
  void write_exclusive(F&& make) {
    std::shared_lock lock(fd_mu_);
    if (fd_ < 0) {
      return;
    }
    const bool lockable = !is_dash_ && !is_syslog_ && ::flock(fd_, LOCK_EX) == 0;
    struct Unlock {
      int fd;
      ~Unlock() {
        if (fd >= 0) {
          ::flock(fd, LOCK_UN);
        }
      }
    } unlock{lockable ? fd_ : -1};
    const std::string line = make(is_dash_ || is_syslog_ ? -1 : fd_);
    write_unlocked(line);
  }
  std::uint64_t write_failures() const noexcept {
    return failures_.load(std::memory_order_relaxed);
  }

 private:
  void close_fd() noexcept;
  // The writev loop; the caller holds fd_mu_ (shared) and fd_ >= 0.
  void write_unlocked(std::string_view line) noexcept;

  std::string path_;
  int fd_ = -1;
  bool owns_fd_ = false;
  bool is_dash_ = false;
  bool is_syslog_ = false;
  mutable std::shared_mutex fd_mu_;  // shared: write(); exclusive: open()/reopen()
  int syslog_priority_ = 0;
  std::mutex stream_mu_;             // serialises writes to stdout/stderr (may be a pipe)
  std::atomic<std::uint64_t> failures_{0};
};

// The facts of one request, borrowed from the exchange for the duration of log().
struct AccessRecord {
  std::string_view tenant;
  std::string_view listener;
  std::string_view client;  // ip:port after PROXY protocol
  std::string_view sni;
  std::string_view tls_version;
  std::string_view alpn;
  std::string_view method;
  std::string_view authority;
  std::string_view path;
  int status = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::int64_t duration_ms = 0;
  std::string_view upstream;           // endpoint "host:port"
  std::string_view upstream_identity;  // verified SPIFFE ID or DNS name
  std::string_view request_id;
  std::string_view reason;  // gateway::to_string(Reason); "none" or empty for success
  std::string_view source_identity;  // egress listeners: the workload's identity (else omitted)
  std::string_view route;    // the matched route's name ("" when none matched)
  std::string_view cluster;  // the route's cluster ("" for a local reply or a refusal)
  std::int64_t duration_us = 0;  // the same duration in microseconds
};

// One JSON object with every CONTRACT.md access field (in contract order) plus reason, then
// route, cluster and duration_us.
std::string format_access(const AccessRecord& r, std::string_view time);

class AccessLog {
 public:
  bool open(const std::string& path) { return file_.open(path, 1); }
  bool reopen() noexcept { return file_.reopen(); }
  bool enabled() const noexcept { return file_.enabled(); }
  // Formats and writes one line; never throws. Successful requests (status < 400, no reason)
  // are written at the sampling rate; everything else always.
  void log(const AccessRecord& r) noexcept;
  // [log] access_sample: the fraction of successful requests written (1 = all).
  void set_sample(double fraction) noexcept {
    sample_per_million_.store(
        fraction >= 1.0 ? 1'000'000u : fraction <= 0.0 ? 0u
                                                        : static_cast<std::uint32_t>(
                                                              fraction * 1'000'000.0),
        std::memory_order_relaxed);
  }
  LogFile& file() noexcept { return file_; }

 private:
  LogFile file_;
  std::atomic<std::uint32_t> sample_per_million_{1'000'000};
};

}  // namespace portcullis::gateway::observe
