#include "gateway/runtime/build_info.h"

#include <ares.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <uv.h>

namespace portcullis::gateway::runtime {

LibraryVersions linked_library_versions() {
  LibraryVersions v;
  v.openssl_text = OpenSSL_version(OPENSSL_VERSION);
  v.openssl = OpenSSL_version(OPENSSL_VERSION_STRING);
  v.nghttp2 = nghttp2_version(0)->version_str;
  v.libuv = uv_version_string();
  v.cares = ares_version(nullptr);
  return v;
}

std::string library_versions() {
  const LibraryVersions v = linked_library_versions();
  return v.openssl_text + "\n" + "nghttp2 " + v.nghttp2 + "\n" + "libuv " + v.libuv + "\n" +
         "c-ares " + v.cares + "\n";
}

}  // namespace portcullis::gateway::runtime
