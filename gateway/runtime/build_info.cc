#include "gateway/runtime/build_info.h"

#include <ares.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <uv.h>

namespace portcullis::gateway::runtime {

std::string library_versions() {
  std::string out;
  out += std::string(OpenSSL_version(OPENSSL_VERSION)) + "\n";
  out += std::string("nghttp2 ") + nghttp2_version(0)->version_str + "\n";
  out += std::string("libuv ") + uv_version_string() + "\n";
  out += std::string("c-ares ") + ares_version(nullptr) + "\n";
  return out;
}

}  // namespace portcullis::gateway::runtime
