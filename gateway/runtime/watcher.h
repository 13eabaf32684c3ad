// Watcher: reloads when the files the running config depends on change: gateway.toml, any
// *.toml in tenants_dir, and every certificate, key and CA file named by the config.
//
// Directories are watched, not files, so that editors' and cert-managers' atomic renames are
// seen; events are filtered by file name and debounced (kDebounceMs) into one reload.
// Thread:   the main loop. rebuild() after every successful reload (the file set may change).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include <uv.h>

#include "gateway/config/config.h"

namespace portcullis::gateway::runtime {

inline constexpr std::uint64_t kDebounceMs = 300;

class Watcher {
 public:
  Watcher(uv_loop_t* loop, std::function<void()> on_change);
  ~Watcher();
  // Watches what `cfg` (loaded from `config_path`) depends on.
  void rebuild(const std::string& config_path, const config::Config& cfg);
  void close();

 private:
  struct Dir;
  static void on_event(uv_fs_event_t* h, const char* filename, int events, int status) noexcept;
  static void on_timer(uv_timer_t* h) noexcept;
  void changed();

  uv_loop_t* loop_;
  std::function<void()> on_change_;
  uv_timer_t timer_{};
  std::map<std::string, std::unique_ptr<Dir>> dirs_;  // directory -> watched names
  bool closed_ = false;
};

}  // namespace portcullis::gateway::runtime
