// Watcher: reloads when the files the running config depends on change: gateway.toml, any
// *.toml in tenants_dir, and every certificate, key and CA file named by the config.
//
// Directories are watched, not files, so that editors' and cert-managers' atomic renames are
// seen. An event on a named file, a tenant file or a kubelet `..` entry (a mounted Secret is
// rotated by swapping the `..data` symlink: tls.crt itself never gets an event) starts the
// debounce (kDebounceMs, from the first event); then the files the events named are
// re-checked by content, or by stat identity with tenants on demand (at 100k tenants,
// re-checking every file took seconds of the main loop for a one-file change). Every named
// file is re-checked when an event names no file, a kubelet `..` entry, a path the config
// spells otherwise, or more than kMaxPending files.
// Other names (a log file beside gateway.toml) are ignored.
// A reload fires only when some file's content (or presence) differs from the last check, and
// is told which of the named files differ (as the config spells them), so that a change confined
// to tenants rebuilds only those tenants.
// Thread:   the main loop. rebuild() after every successful reload (the file set may change).
//           With tenants on demand, start()'s first fingerprint runs on a thread of its own
//           (300,000 stat()s at 100,000 tenants), after /readyz answers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <uv.h>

#include "gateway/config/config.h"

namespace portcullis::gateway::runtime {

inline constexpr std::uint64_t kDebounceMs = 300;

class Watcher {
 public:
  // `changed`: the files whose content or presence differs (never empty when called).
  using OnChange = std::function<void(std::vector<std::string> changed)>;
  Watcher(uv_loop_t* loop, OnChange on_change);
  ~Watcher();
  // Watches what `cfg` (loaded from `config_path`) depends on.
  void rebuild(const std::string& config_path, const config::Config& cfg);
  // A file as the loader saw it: `path` points into what `keep` owns.
  struct Seed {
    const std::string* path = nullptr;
    config::FileIdentity id;
  };
  // The first rebuild(), at start. With tenants on demand the first fingerprint is taken on a
  // thread, and the files in `seeds` are compared against the identity the loader saw, not
  // against what the thread finds: a file changed in between (or while the thread runs)
  // reloads. Events meanwhile wait for that fingerprint. Without tenants on demand, rebuild().
  void start(const std::string& config_path, const config::Config& cfg, std::vector<Seed> seeds,
             std::shared_ptr<const void> keep);
  void close();

 private:
  struct Dir;
  static void on_event(uv_fs_event_t* h, const char* filename, int events, int status) noexcept;
  static void on_timer(uv_timer_t* h) noexcept;
  void changed();
  bool start_first();  // false: no thread; nothing was done
  void first_pass() noexcept;  // on the thread
  void finish_first();  // joins the thread and takes its fingerprint as the baseline
  static void on_first_done(uv_async_t* h) noexcept;
  // The event's file, when it is one the config names or a tenant file (else nothing).
  void note(const Dir& dir, const std::string& name);
  bool is_tenant_file(const std::string& path) const;
  // Files whose content or presence differs from last_ (which is brought up to date).
  std::vector<std::string> check_all();
  std::vector<std::string> check_pending();
  // Path -> content hash (or kMissing) of every file that matters now.
  std::map<std::string, std::size_t> fingerprint();
  std::size_t content_hash(const std::string& path);

  uv_loop_t* loop_;
  OnChange on_change_;
  uv_timer_t timer_{};
  std::map<std::string, std::unique_ptr<Dir>> dirs_;  // directory -> watched names
  std::set<std::string> files_;    // files the config names
  std::string tenants_dir_;         // its *.toml files matter too
  std::map<std::string, std::size_t> last_;  // fingerprint at the last rebuild or reload
  static constexpr std::size_t kMaxPending = 1024;
  std::set<std::string> pending_;  // files named by events since the last check
  bool pending_all_ = false;       // an event that names no single file: check them all
  // Stat identity -> hash, so that unchanged files are not read again at every event.
  struct Seen {
    std::uint64_t dev = 0, ino = 0, size = 0;
    std::int64_t mtime_ns = 0, ctime_ns = 0;
    std::size_t hash = 0;
  };
  std::map<std::string, Seen> seen_;
  static std::size_t stand_in(const Seen& id) noexcept;  // the hash a stat identity stands for
  bool stat_only_ = false;  // tenants on demand: a file first seen is not read (content_hash)
  bool closed_ = false;
  // start(): the first fingerprint's thread. While it runs it alone touches files_,
  // tenants_dir_, seen_ and first_; the loop touches none of them (rebuild() joins it first).
  std::vector<Seed> seeds_;  // start() -> rebuild()
  std::shared_ptr<const void> seeds_keep_;
  std::thread first_thread_;
  uv_async_t first_done_{};
  std::map<std::string, std::size_t> first_;  // baseline: the loader's view where seeded
  std::vector<std::string> first_changed_;  // seeded files that are not what the loader saw
  bool first_failed_ = false;   // out of memory on the thread: fingerprint again on the loop
};

}  // namespace portcullis::gateway::runtime
