// Watcher: reloads when the files the running config depends on change: gateway.toml, any
// *.toml in tenants_dir, and every certificate, key and CA file named by the config.
//
// Directories are watched, not files, so that editors' and cert-managers' atomic renames are
// seen; events are filtered by file name and debounced (kDebounceMs) into one reload, which is
// told the paths that changed (empty: not known, reload everything).
// Thread:   the main loop. rebuild() after every successful reload (the file set may change).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <uv.h>

#include "gateway/config/config.h"

namespace portcullis::gateway::runtime {

inline constexpr std::uint64_t kDebounceMs = 300;

class Watcher {
 public:
  using OnChange = std::function<void(std::vector<std::string> changed)>;
  Watcher(uv_loop_t* loop, OnChange on_change);
  ~Watcher();
  // Watches what `cfg` (loaded from `config_path`) depends on.
  void rebuild(const std::string& config_path, const config::Config& cfg);
  void close();

 private:
  struct Dir;
  static void on_event(uv_fs_event_t* h, const char* filename, int events, int status) noexcept;
  static void on_timer(uv_timer_t* h) noexcept;
  void changed();                         // something changed: reload everything
  void changed(const std::string& path);  // that file changed

  uv_loop_t* loop_;
  OnChange on_change_;
  std::set<std::string> pending_;  // paths seen since the debounce started
  bool pending_all_ = false;
  uv_timer_t timer_{};
  std::map<std::string, std::unique_ptr<Dir>> dirs_;  // directory -> watched names
  bool closed_ = false;
};

}  // namespace portcullis::gateway::runtime
