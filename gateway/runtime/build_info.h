// The versions `portcullis version` prints: the libraries linked in, as they report themselves
// at run time (the shared objects actually loaded, not the headers built against).
// Thread: any.
#pragma once

#include <string>

namespace portcullis::gateway::runtime {

// "OpenSSL 3.0.x ...\nnghttp2 1.52.0\nlibuv 1.44.2\nc-ares 1.18.1\n"
std::string library_versions();

}  // namespace portcullis::gateway::runtime
