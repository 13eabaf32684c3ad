#include "gateway/runtime/upgrade.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace portcullis::gateway::runtime {

std::vector<std::string> upgrade_command(const std::vector<std::string>& self) {
  std::vector<std::string> argv = self;
  if (std::find(argv.begin(), argv.end(), "--takeover") == argv.end()) {
    argv.emplace_back("--takeover");
  }
  return argv;
}

std::string resolve_self(const char* argv0) {
  if (argv0 == nullptr || argv0[0] == '\0') {
    return {};
  }
  const std::string name = argv0;
  if (name.find('/') != std::string::npos) {
    if (name[0] == '/') {
      return name;
    }
    char cwd[4096];
    return ::getcwd(cwd, sizeof cwd) != nullptr ? std::string(cwd) + "/" + name : std::string{};
  }
  const char* path = std::getenv("PATH");
  const std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t at = 0;
  while (at <= dirs.size()) {
    const std::size_t end = std::min(dirs.find(':', at), dirs.size());
    const std::string dir = end > at ? dirs.substr(at, end - at) : ".";
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate[0] == '/' ? candidate : resolve_self(candidate.c_str());
    }
    at = end + 1;
  }
  return {};
}

bool Successor::start(const std::vector<std::string>& argv, std::string& err) {
  if (proc_ != nullptr) {
    err = "a new process is already starting (pid " + std::to_string(pid_) + ")";
    return false;
  }
  if (argv.empty() || argv[0].empty()) {
    err = "the path of the binary is unknown";
    return false;
  }
  std::vector<char*> args;
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  uv_stdio_container_t stdio[3];
  for (int i = 0; i < 3; ++i) {
    stdio[i].flags = UV_INHERIT_FD;
    stdio[i].data.fd = i;
  }
  uv_process_options_t opt{};
  opt.file = args[0];
  opt.args = args.data();
  opt.exit_cb = &Successor::on_exit;
  opt.stdio = stdio;
  opt.stdio_count = 3;
  auto* p = new uv_process_t{};
  p->data = this;
  if (const int rc = uv_spawn(loop_, p, &opt); rc != 0) {
    err = "cannot start " + argv[0] + ": " + uv_strerror(rc);
    // uv_spawn initialised the handle even when it failed: it is closed like any other.
    uv_close(reinterpret_cast<uv_handle_t*>(p),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_process_t*>(h); });
    return false;
  }
  proc_ = p;
  pid_ = p->pid;
  return true;
}

void Successor::close() noexcept {
  if (proc_ == nullptr) {
    return;
  }
  proc_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(proc_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_process_t*>(h); });
  proc_ = nullptr;
  pid_ = 0;
}

void Successor::on_exit(uv_process_t* p, std::int64_t status, int signum) noexcept {
  auto* self = static_cast<Successor*>(p->data);
  if (self == nullptr) {
    return;
  }
  const int pid = self->pid_;
  // A local copy: the callback may destroy this Successor (and its own std::function).
  const Exited cb = self->on_exit_;
  self->close();
  if (cb) {
    cb(pid, status, signum);
  }
}

}  // namespace portcullis::gateway::runtime
