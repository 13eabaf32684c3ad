#include "gateway/egress/resolver.h"

namespace portcullis::gateway::egress {

Lookup* resolve(uv_loop_t* loop, const std::string& server, const std::string& name,
                Lookup::Callback cb) {
  return dns::Resolver::for_loop(loop, server).resolve(name, /*absolute=*/true, std::move(cb));
}

}  // namespace portcullis::gateway::egress
