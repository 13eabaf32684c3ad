// The versions of the libraries linked in, as they report themselves at run time (the shared
// objects actually loaded, not the headers built against): `portcullis version` prints them and
// the portcullis_build_info metric carries them as labels, from this one query.
// Thread: any.
#pragma once

#include <string>

namespace portcullis::gateway::runtime {

struct LibraryVersions {
  std::string openssl_text;  // "OpenSSL 3.0.x 1 Sep 2023" (OPENSSL_VERSION)
  std::string openssl;       // "3.0.x" (OPENSSL_VERSION_STRING)
  std::string nghttp2;       // "1.52.0"
  std::string libuv;         // "1.44.2"
  std::string cares;         // "1.18.1"
};

LibraryVersions linked_library_versions();

// "OpenSSL 3.0.x ...\nnghttp2 1.52.0\nlibuv 1.44.2\nc-ares 1.18.1\n"
std::string library_versions();

}  // namespace portcullis::gateway::runtime
