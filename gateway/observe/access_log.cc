#include "gateway/observe/access_log.h"

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

namespace portcullis::gateway::observe {

namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_u00(std::string& out, unsigned char c) {
  out += "\\u00";
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not one (overlong forms,
// surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) {
    return 0;
  }
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) {
      return 0;
    }
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
      (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  return n;
}

}  // namespace

void JsonLine::append_escaped(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20 || c == 0x7f) {
            append_u00(out, c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    if (const std::size_t n = utf8_sequence(s, i); n > 0) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      // Not UTF-8: keep the byte visible (as the code point U+00XX) rather than emit bad JSON.
      append_u00(out, c);
      ++i;
    }
  }
  out += '"';
}

void JsonLine::key(std::string_view k) {
  if (buf_.size() > 1) {
    buf_ += ',';
  }
  append_escaped(buf_, k);
  buf_ += ':';
}

JsonLine& JsonLine::add(std::string_view k, std::string_view value) {
  key(k);
  append_escaped(buf_, value);
  return *this;
}

JsonLine& JsonLine::add(std::string_view k, std::int64_t value) {
  key(k);
  buf_ += std::to_string(value);
  return *this;
}

JsonLine& JsonLine::add(std::string_view k, std::uint64_t value) {
  key(k);
  buf_ += std::to_string(value);
  return *this;
}

JsonLine& JsonLine::add_bool(std::string_view k, bool value) {
  key(k);
  buf_ += value ? "true" : "false";
  return *this;
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  auto secs = static_cast<std::time_t>(ms.count() / 1000);
  auto milli = static_cast<int>(ms.count() % 1000);
  if (milli < 0) {
    milli += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
  return buf;
}

std::string rfc3339_now() { return rfc3339(std::chrono::system_clock::now()); }

// ---- LogFile ----

LogFile::~LogFile() { close_fd(); }

void LogFile::close_fd() noexcept {
  if (owns_fd_ && fd_ >= 0) {
    ::close(fd_);
  }
  is_syslog_ = false;
  fd_ = -1;
  owns_fd_ = false;
}

bool LogFile::open(const std::string& path, int dash_fd, int syslog_priority) {
  std::unique_lock lock(fd_mu_);
  close_fd();
  path_ = path;
  is_dash_ = path == "-";
  is_syslog_ = path == kSyslogPath;
  if (path.empty()) {
    return true;
  }
  if (is_syslog_) {
    // LOG_NDELAY: connect now, so the first line is not lost to a late connect failure.
    ::openlog("portcullis", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    syslog_priority_ = syslog_priority == 0 ? (LOG_DAEMON | LOG_INFO) : syslog_priority;
    fd_ = 0;  // a placeholder: enabled, never written to
    return true;
  }
  if (is_dash_) {
    fd_ = dash_fd;
    return true;
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return false;
  }
  fd_ = fd;
  owns_fd_ = true;
  return true;
}

bool LogFile::reopen() noexcept {
  if (is_dash_ || is_syslog_ || path_.empty()) {
    return true;
  }
  const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return false;
  }
  std::unique_lock lock(fd_mu_);
  close_fd();
  fd_ = fd;
  owns_fd_ = true;
  return true;
}

bool LogFile::enabled() const noexcept {
  std::shared_lock lock(fd_mu_);
  return fd_ >= 0;
}

void LogFile::write(std::string_view line) noexcept {
  std::shared_lock lock(fd_mu_);
  if (fd_ < 0) {
    return;
  }
  write_unlocked(line);
}

void LogFile::write_unlocked(std::string_view line) noexcept {
  if (is_syslog_) {
    ::syslog(syslog_priority_, "%.*s", static_cast<int>(line.size()), line.data());
    return;
  }
  // Regular files opened O_APPEND take each writev() whole; stdout may be a pipe or a terminal
  // where a large line can be split, so lines to it are serialised.
  std::unique_lock<std::mutex> stream_lock;
  if (is_dash_) {
    stream_lock = std::unique_lock<std::mutex>(stream_mu_);
  }
  char nl = '\n';
  iovec iov[2] = {{const_cast<char*>(line.data()), line.size()}, {&nl, 1}};
  int iovcnt = 2;
  iovec* v = iov;
  while (iovcnt > 0) {
    const ssize_t n = ::writev(fd_, v, iovcnt);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      failures_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    // Partial write (pipe, full disk): finish the line so the next one starts cleanly.
    auto left = static_cast<std::size_t>(n);
    while (iovcnt > 0 && left >= v->iov_len) {
      left -= v->iov_len;
      ++v;
      --iovcnt;
    }
    if (iovcnt > 0) {
      v->iov_base = static_cast<char*>(v->iov_base) + left;
      v->iov_len -= left;
      if (n == 0) {
        failures_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
  }
}

// ---- AccessLog ----

std::string format_access(const AccessRecord& r, std::string_view time) {
  JsonLine j;
  j.add("time", time)
      .add("tenant", r.tenant)
      .add("listener", r.listener)
      .add("client", r.client)
      .add("sni", r.sni)
      .add("tls_version", r.tls_version)
      .add("alpn", r.alpn)
      .add("method", r.method)
      .add("authority", r.authority)
      .add("path", r.path)
      .add("status", r.status)
      .add("bytes_in", r.bytes_in)
      .add("bytes_out", r.bytes_out)
      .add("duration_ms", r.duration_ms)
      .add("upstream", r.upstream)
      .add("upstream_identity", r.upstream_identity)
      .add("request_id", r.request_id)
      .add("reason", r.reason.empty() ? std::string_view("none") : r.reason);
  if (!r.source_identity.empty()) {
    j.add("source_identity", r.source_identity);
  }
  j.add("route", r.route).add("cluster", r.cluster).add("duration_us", r.duration_us);
  return j.str();
}

namespace {

// Per-thread xorshift: sampling must not take a lock or share a cache line between workers.
std::uint32_t next_random() noexcept {
  thread_local std::uint32_t x = 0x9e3779b9u ^ static_cast<std::uint32_t>(
                                                  reinterpret_cast<std::uintptr_t>(&x));
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

}  // namespace

void AccessLog::log(const AccessRecord& r) noexcept {
  if (!file_.enabled()) {
    return;
  }
  const bool success = r.status < 400 && (r.reason.empty() || r.reason == "none");
  const std::uint32_t rate = sample_per_million_.load(std::memory_order_relaxed);
  if (success && rate < 1'000'000u && next_random() % 1'000'000u >= rate) {
    return;
  }
  try {
    file_.write(format_access(r, rfc3339_now()));
  } catch (...) {
    // Only allocation can fail here; losing one log line must not take a worker down.
  }
}

}  // namespace portcullis::gateway::observe
