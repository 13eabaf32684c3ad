#include "gateway/runtime/watcher.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>
#include <system_error>

namespace portcullis::gateway::runtime {

// One watched directory. The handle is freed in its close callback (libuv's rule), so the Dir
// is released to a heap object the callback deletes.
struct Watcher::Dir {
  Watcher* owner = nullptr;
  std::string path;  // as the config spells it (split() of the files in it)
  uv_fs_event_t* handle = nullptr;
  std::set<std::string> names;  // the files the config names in this directory
  bool any_toml = false;        // tenants_dir: every *.toml
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

// A missing or unreadable file: distinct from any content, so (dis)appearing is a change.
constexpr std::size_t kMissing = static_cast<std::size_t>(-1);

}  // namespace

Watcher::Watcher(uv_loop_t* loop, OnChange on_change)
    : loop_(loop), on_change_(std::move(on_change)) {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  uv_async_init(loop_, &first_done_, &Watcher::on_first_done);
  first_done_.data = this;
  uv_unref(reinterpret_cast<uv_handle_t*>(&first_done_));  // the loop may end without it
}

Watcher::~Watcher() {
  if (first_thread_.joinable()) {
    first_thread_.join();
  }
}

void Watcher::start(const std::string& config_path, const config::Config& cfg,
                    std::vector<Seed> seeds, std::shared_ptr<const void> keep) {
  seeds_ = std::move(seeds);
  seeds_keep_ = std::move(keep);
  rebuild(config_path, cfg);
  if (!first_thread_.joinable()) {
    seeds_.clear();
    seeds_keep_.reset();
  }
}

void Watcher::rebuild(const std::string& config_path, const config::Config& cfg) {
  if (closed_) {
    return;
  }
  finish_first();  // a reload before the first fingerprint was in: it is the baseline
  std::map<std::string, std::set<std::string>> want;
  files_.clear();
  auto add = [&](const std::string& path) {
    if (path.empty() || path == "system" || path == "-") {
      return;
    }
    auto [dir, name] = split(path);
    want[dir].insert(name);
    files_.insert(path);
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
  const std::uint32_t cap = cfg.limits.max_tenant_contexts;
  stat_only_ = cap != 0 && cfg.tenants.size() > cap;
  const std::string& tdir = cfg.gateway.tenants_dir;
  tenants_dir_ = tdir;
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
  for (const auto& entry : want) {
    const std::string& dir = entry.first;
    auto& slot = dirs_[dir];
    if (!slot) {
      slot = std::make_unique<Dir>();
      slot->owner = this;
      slot->path = dir;
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
    slot->names = entry.second;
    slot->any_toml = dir == tdir;
  }
  if (stat_only_ && !seeds_.empty() && start_first()) {
    return;  // start(): the baseline comes from the thread (finish_first)
  }
  // Events pending (files changed while this reload was built): keep the old fingerprint, so
  // the timer still sees a difference and reloads once more rather than miss the change.
  auto now = fingerprint();
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_))) {
    last_ = now;
  }
  for (auto it = seen_.begin(); it != seen_.end();) {  // forget files no longer named
    it = now.count(it->first) != 0 || last_.count(it->first) != 0 ? std::next(it)
                                                                  : seen_.erase(it);
  }
}

std::size_t Watcher::stand_in(const Seen& id) noexcept {
  const std::size_t h = std::hash<std::string_view>{}(std::string_view(
      reinterpret_cast<const char*>(&id), sizeof(id) - sizeof(id.hash)));
  return h == kMissing ? 0 : h;
}

bool Watcher::start_first() {
  try {
    first_thread_ = std::thread([this]() noexcept {
      first_pass();
      uv_async_send(&first_done_);
    });
    return true;
  } catch (const std::system_error&) {
    return false;  // no thread: the loop fingerprints as before
  }
}

// At 100,000 tenants on demand: 300,000 stat()s and as many map entries, a third of the
// start-up's CPU when it ran before /readyz. The loader's identities are the baseline: a file
// that differs from what the loader saw is a change (the thread's stat() came later).
void Watcher::first_pass() noexcept {
  try {
    auto now = fingerprint();
    std::vector<std::string> differs;
    for (const Seed& s : seeds_) {
      if (s.path == nullptr || !s.id.known()) {
        continue;
      }
      Seen id;
      id.dev = s.id.dev;
      id.ino = s.id.ino;
      id.size = s.id.size;
      id.mtime_ns = s.id.mtime_ns;
      id.ctime_ns = s.id.ctime_ns;
      const std::size_t loaded = stand_in(id);
      auto [it, fresh] = now.try_emplace(*s.path, loaded);
      if (fresh || it->second != loaded) {
        differs.push_back(*s.path);  // changed, or gone, since the loader read it
        it->second = loaded;
      }
    }
    first_ = std::move(now);
    first_changed_ = std::move(differs);
  } catch (const std::exception&) {  // out of memory: the loop tries again (finish_first)
    first_.clear();
    first_changed_.clear();
    first_failed_ = true;
  }
}

void Watcher::finish_first() {
  if (!first_thread_.joinable()) {
    return;
  }
  first_thread_.join();
  seeds_ = {};
  seeds_keep_.reset();
  if (first_failed_) {
    first_failed_ = false;
    first_ = fingerprint();
  }
  last_ = std::move(first_);
  first_.clear();
  if (!first_changed_.empty()) {
    // The timer checks these against the loader's view (the events for them, if any, came
    // before the directories were watched).
    for (auto& path : first_changed_) {
      pending_.insert(std::move(path));
    }
    pending_all_ = pending_all_ || pending_.size() > kMaxPending;
    first_changed_ = {};
    changed();
  }
}

void Watcher::on_first_done(uv_async_t* h) noexcept {
  auto* self = static_cast<Watcher*>(h->data);
  if (!self->closed_) {
    self->finish_first();
  }
}

std::size_t Watcher::content_hash(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    seen_.erase(path);
    return kMissing;
  }
  Seen id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = static_cast<std::uint64_t>(st.st_size);
  id.mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
  id.ctime_ns = st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
  auto it = seen_.find(path);
  if (it != seen_.end() && it->second.dev == id.dev && it->second.ino == id.ino &&
      it->second.size == id.size && it->second.mtime_ns == id.mtime_ns &&
      it->second.ctime_ns == id.ctime_ns) {
    return it->second.hash;
  }
  if (stat_only_) {
    // Tenants on demand: the stat identity is the content. Reading every tenant file,
    // certificate and key at start took 7 of 14 CPU seconds at 100,000 tenants, and reading
    // 200,000 renewed certificates and keys (a bulk check) stalled the main loop for 50 s.
    // The same bytes rewritten reload the tenants naming the file (in place, cheap).
    id.hash = stand_in(id);
    seen_[path] = id;
    return id.hash;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    seen_.erase(path);
    return kMissing;
  }
  std::ostringstream body;
  body << in.rdbuf();
  id.hash = std::hash<std::string_view>{}(body.view());
  if (id.hash == kMissing) {
    id.hash = 0;
  }
  seen_[path] = id;
  return id.hash;
}

std::map<std::string, std::size_t> Watcher::fingerprint() {
  std::map<std::string, std::size_t> out;
  for (const auto& f : files_) {
    out[f] = content_hash(f);
  }
  if (!tenants_dir_.empty()) {
    if (DIR* d = ::opendir(tenants_dir_.c_str())) {
      while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name.front() != '.' && ends_with(name, ".toml")) {
          const std::string path = tenants_dir_ + "/" + name;
          out[path] = content_hash(path);
        }
      }
      ::closedir(d);
    }
  }
  return out;
}

void Watcher::on_event(uv_fs_event_t* h, const char* filename, int, int status) noexcept {
  auto* dir = static_cast<Dir*>(h->data);
  if (status != 0 || dir->owner->closed_) {
    return;
  }
  // A named file, a tenant file, or the kubelet's `..data` / `..data_tmp` / `..<timestamp>`
  // entries (the named files are symlinks through `..data`, which never get an event
  // themselves): the timer re-checks contents. Anything else in the directory, such as a log
  // file written next to gateway.toml, is ignored: it would keep the debounce busy.
  const std::string name = filename != nullptr ? filename : "";
  Watcher* self = dir->owner;
  if (name.empty() || name.rfind("..", 0) == 0) {
    self->pending_all_ = true;
    self->changed();
  } else if (dir->names.count(name) != 0 || (dir->any_toml && ends_with(name, ".toml"))) {
    try {
      self->note(*dir, name);
    } catch (...) {  // out of memory: check every file rather than miss this one
      self->pending_all_ = true;
    }
    self->changed();
  }
}

void Watcher::note(const Dir& dir, const std::string& name) {
  if (pending_all_) {
    return;
  }
  if (dir.any_toml && ends_with(name, ".toml")) {
    pending_.insert(tenants_dir_ + "/" + name);  // as fingerprint() lists it
  }
  if (dir.names.count(name) != 0) {
    // split()'s inverse: the path as the config spells it, when it spells it plainly.
    const std::string& d = dir.path;
    std::string path = d == "." ? name : d == "/" ? "/" + name : d + "/" + name;
    if (files_.count(path) != 0) {
      pending_.insert(std::move(path));
    } else {
      pending_all_ = true;  // spelt another way ("./x"): every file is checked
    }
  }
  if (pending_.size() > kMaxPending) {
    pending_all_ = true;  // a bulk change: every file is checked anyway
  }
}

bool Watcher::is_tenant_file(const std::string& path) const {
  if (tenants_dir_.empty() || path.size() <= tenants_dir_.size() + 1 ||
      path.compare(0, tenants_dir_.size(), tenants_dir_) != 0 ||
      path[tenants_dir_.size()] != '/') {
    return false;
  }
  const std::string_view name = std::string_view(path).substr(tenants_dir_.size() + 1);
  return name.find('/') == std::string_view::npos && name.front() != '.' &&
         ends_with(std::string(name), ".toml");
}

void Watcher::changed() {
  // Debounce: a cert-manager writing cert, key and chain within kDebounceMs triggers one
  // reload. Counted from the first event, not restarted by later ones, so a steady stream of
  // events cannot put the reload off forever; what comes after the check reloads again.
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_))) {
    uv_timer_start(&timer_, &Watcher::on_timer, kDebounceMs, 0);
  }
}

void Watcher::on_timer(uv_timer_t* h) noexcept {
  auto* self = static_cast<Watcher*>(h->data);
  if (self->closed_) {
    return;
  }
  if (self->first_thread_.joinable()) {  // the first fingerprint is still being taken
    uv_timer_start(h, &Watcher::on_timer, kDebounceMs, 0);
    return;
  }
  std::vector<std::string> changed =
      self->pending_all_ ? self->check_all() : self->check_pending();
  self->pending_.clear();
  self->pending_all_ = false;
  if (changed.empty()) {
    return;  // an unrelated file, or the same bytes rewritten
  }
  // last_ now says what this reload was for: a refused reload is not retried until a file
  // changes again; a successful one that changes the file set calls rebuild().
  self->on_change_(std::move(changed));
}

std::vector<std::string> Watcher::check_all() {
  auto now = fingerprint();
  std::vector<std::string> changed;
  if (now == last_) {
    return changed;
  }
  for (const auto& [path, hash] : now) {
    auto it = last_.find(path);
    if (it == last_.end() || it->second != hash) {
      changed.push_back(path);
    }
  }
  for (const auto& [path, hash] : last_) {
    if (now.count(path) == 0) {
      changed.push_back(path);  // no longer looked at (a tenant file removed from tenants_dir)
    }
  }
  last_ = std::move(now);
  return changed;
}

// What check_all() would say when only the pending files can have changed: each is compared
// with its entry in last_, in fingerprint()'s terms (a named file is listed even when missing;
// a tenant file only while it exists).
std::vector<std::string> Watcher::check_pending() {
  std::vector<std::string> changed;
  for (const auto& path : pending_) {
    const bool named = files_.count(path) != 0;
    if (!named && !is_tenant_file(path)) {
      continue;
    }
    const std::size_t hash = content_hash(path);
    const auto it = last_.find(path);
    if (named || hash != kMissing) {
      if (it == last_.end() || it->second != hash) {
        changed.push_back(path);
        last_[path] = hash;
      }
    } else if (it != last_.end()) {
      changed.push_back(path);  // a tenant file removed from tenants_dir
      last_.erase(it);
    }
  }
  return changed;
}

void Watcher::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  if (first_thread_.joinable()) {
    first_thread_.join();  // its result is not needed any more
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&first_done_), nullptr);
  for (auto& [dir, d] : dirs_) {
    uv_close(reinterpret_cast<uv_handle_t*>(d->handle),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); });
  }
  dirs_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

}  // namespace portcullis::gateway::runtime
