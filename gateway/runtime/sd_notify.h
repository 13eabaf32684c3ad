// systemd integration without libsystemd: the notification datagram (sd_notify(3): READY=1,
// RELOADING=1 + MONOTONIC_USEC, STOPPING=1, MAINPID) and socket activation (sd_listen_fds(3):
// LISTEN_PID/LISTEN_FDS, descriptors from 3). Both protocols are a few lines and stable; the
// library would add a dependency for no behaviour.
//
// Thread: main thread only (getenv/unsetenv).
#pragma once

#include <string>
#include <vector>

#include "gateway/runtime/handoff.h"

namespace portcullis::gateway::runtime {

// Sends `state` to $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). False when
// there is no socket or the send failed; that is never fatal.
bool sd_notify(const std::string& state) noexcept;
// "RELOADING=1\nMONOTONIC_USEC=<now>": systemd 253+ wants the timestamp with RELOADING=1.
std::string sd_reloading_message();

// The listening sockets systemd passed, when LISTEN_PID is this process; the variables are
// removed so no child inherits them. Names from LISTEN_FDNAMES when set, else "".
std::vector<PassedSocket> sd_listen_sockets();

}  // namespace portcullis::gateway::runtime
