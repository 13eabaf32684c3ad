#include "gateway/runtime/watcher.h"

#include <cstring>

namespace portcullis::gateway::runtime {

// One watched directory. The handle is freed in its close callback (libuv's rule), so the Dir
// is released to a heap object the callback deletes.
struct Watcher::Dir {
  Watcher* owner = nullptr;
  uv_fs_event_t* handle = nullptr;
  std::set<std::string> names;  // file names that matter here
  bool any_toml = false;        // tenants_dir: every *.toml matters
};

namespace {

std::pair<std::string, std::string> split(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) {
    return {".", path};
  }
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

bool ends_with(const std::string& s, const char* suffix) {
  const std::size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

Watcher::Watcher(uv_loop_t* loop, OnChange on_change)
    : loop_(loop), on_change_(std::move(on_change)) {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
}

Watcher::~Watcher() = default;

void Watcher::rebuild(const std::string& config_path, const config::Config& cfg) {
  if (closed_) {
    return;
  }
  std::map<std::string, std::set<std::string>> want;
  auto add = [&](const std::string& path) {
    if (path.empty() || path == "system" || path == "-") {
      return;
    }
    auto [dir, name] = split(path);
    want[dir].insert(name);
  };
  add(config_path);
  add(cfg.mesh.ca);
  add(cfg.mesh.cert);
  add(cfg.mesh.key);
  add(cfg.gateway.ticket_keys);
  for (const auto& t : cfg.tenants) {
    add(t.cert);
    add(t.key);
    add(t.client_ca);
  }
  for (const auto& e : cfg.egress) {
    add(e.ca);
  }
  const std::string& tdir = cfg.gateway.tenants_dir;
  if (!tdir.empty()) {
    want[tdir];  // all *.toml
  }
  // Drop directories no longer needed; (re)create the rest.
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    if (want.count(it->first) == 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(it->second->handle),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); });
      it = dirs_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [dir, names] : want) {
    auto& slot = dirs_[dir];
    if (!slot) {
      slot = std::make_unique<Dir>();
      slot->owner = this;
      slot->handle = new uv_fs_event_t{};
      uv_fs_event_init(loop_, slot->handle);
      slot->handle->data = slot.get();
      if (uv_fs_event_start(slot->handle, &Watcher::on_event, dir.c_str(), 0) != 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(slot->handle),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); });
        dirs_.erase(dir);
        continue;
      }
    }
    slot->names = names;
    slot->any_toml = dir == tdir;
  }
}

void Watcher::on_event(uv_fs_event_t* h, const char* filename, int, int status) noexcept {
  auto* dir = static_cast<Dir*>(h->data);
  if (status != 0 || filename == nullptr || dir->owner->closed_) {
    return;
  }
  const std::string name = filename;
  if (dir->names.count(name) != 0 || (dir->any_toml && ends_with(name, ".toml"))) {
    char path[4096];
    std::size_t len = sizeof path;
    if (uv_fs_event_getpath(h, path, &len) == 0) {
      dir->owner->changed(std::string(path, len) + "/" + name);
    } else {
      dir->owner->changed();
    }
  }
}

void Watcher::changed() {
  pending_all_ = true;
  // Debounce: a cert-manager writing cert, key and chain triggers one reload.
  uv_timer_start(&timer_, &Watcher::on_timer, kDebounceMs, 0);
}

void Watcher::changed(const std::string& path) {
  pending_.insert(path);
  uv_timer_start(&timer_, &Watcher::on_timer, kDebounceMs, 0);
}

void Watcher::on_timer(uv_timer_t* h) noexcept {
  auto* self = static_cast<Watcher*>(h->data);
  std::vector<std::string> changed;
  if (!self->pending_all_) {
    changed.assign(self->pending_.begin(), self->pending_.end());
  }
  self->pending_.clear();
  self->pending_all_ = false;
  if (!self->closed_) {
    self->on_change_(std::move(changed));
  }
}

void Watcher::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  for (auto& [dir, d] : dirs_) {
    uv_close(reinterpret_cast<uv_handle_t*>(d->handle),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); });
  }
  dirs_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

}  // namespace portcullis::gateway::runtime
