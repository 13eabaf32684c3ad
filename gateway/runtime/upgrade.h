// The binary upgrade (SIGUSR2, as nginx does): the running gateway starts the binary now on disk
// (its argv[0] as resolved at start, not /proc/self/exe, which is the old, deleted inode after a
// package upgrade) with its own arguments plus --takeover. The child takes the listening sockets
// over <state_dir>/handoff.sock (runtime/handoff.h); the Server then moves systemd's MAINPID to
// it and drains. When the child exits before that (bad binary, refused configuration), the old
// process keeps serving and reports the refusal.
//
// Thread: main loop only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <uv.h>

namespace portcullis::gateway::runtime {

// argv for the successor: `self` (argv[0] resolved at start, path kept, not the inode) and the
// same arguments, with --takeover added when absent.
std::vector<std::string> upgrade_command(const std::vector<std::string>& self);

// An absolute path for argv[0] as this process was started: with a '/', made absolute against
// the current directory; without one, the first executable match on $PATH. "" when none.
std::string resolve_self(const char* argv0);

// One successor process, watched until it exits or close().
class Successor {
 public:
  // status: the exit status, signum: the signal that ended it (0 if none).
  using Exited = std::function<void(int pid, std::int64_t status, int signum)>;
  Successor(uv_loop_t* loop, Exited on_exit) : loop_(loop), on_exit_(std::move(on_exit)) {}
  ~Successor() { close(); }
  Successor(const Successor&) = delete;
  Successor& operator=(const Successor&) = delete;

  // Starts argv (stdio inherited: its log goes where this process's goes). False with `err`.
  bool start(const std::vector<std::string>& argv, std::string& err);
  // The running child's pid, 0 when none.
  int pid() const noexcept { return pid_; }
  // Stops watching; the child keeps running (it serves once it took over).
  void close() noexcept;

 private:
  static void on_exit(uv_process_t* p, std::int64_t status, int signum) noexcept;

  uv_loop_t* loop_;
  Exited on_exit_;
  uv_process_t* proc_ = nullptr;  // freed in its close callback
  int pid_ = 0;
};

}  // namespace portcullis::gateway::runtime
