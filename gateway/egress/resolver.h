// Resolver: non-blocking name resolution for egress destinations.
//
// With no server configured it uses the system resolver through uv_getaddrinfo (libuv's thread
// pool). With [gateway].resolver = "ip:port" it asks that DNS server directly over UDP (A and
// AAAA, 2 s deadline), which is how tests point the gateway at a local resolver.
// Thread:   one worker loop. A Lookup deletes itself after its handles closed; cancel() only
//           stops the callback from running.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <uv.h>

namespace portcullis::gateway::egress {

class Lookup {
 public:
  // status 0: addresses (text form) are the answer; else a libuv error code.
  using Callback = std::function<void(int status, std::vector<std::string> addresses)>;
  virtual ~Lookup() = default;
  virtual void cancel() noexcept = 0;
};

// Starts a lookup of `name`. The callback runs at most once, never synchronously.
Lookup* resolve(uv_loop_t* loop, const std::string& server, const std::string& name,
                Lookup::Callback cb);

}  // namespace portcullis::gateway::egress
