// The listening sockets of one process: one per configured listener, shared by every worker
// (each worker polls its own dup). Adopted from a predecessor (hand-off) or from systemd
// (socket activation) when one matches, otherwise bound here. No SO_REUSEPORT: a second
// process on the same address is an error, not a silent split of the traffic.
//
// Thread: main thread, before the workers start.
#pragma once

#include <string>
#include <vector>

#include "gateway/runtime/handoff.h"
#include "gateway/snapshot/snapshot.h"

namespace portcullis::gateway::runtime {

// True when `fd` is a listening TCP socket bound to `want` (family, address and port).
bool bound_to(int fd, const sockaddr_storage& want) noexcept;

// Fills `out` with one listening socket per listener of `snap`, in order. An inherited socket
// is taken when its name and configured address match the listener, or when it is bound to
// the listener's address; the ones left over are closed. False (a message on stderr) when a
// listener can be neither adopted nor bound.
bool open_listen_sockets(const Snapshot& snap, std::vector<PassedSocket>& inherited,
                         std::vector<UniqueFd>& out);

}  // namespace portcullis::gateway::runtime
