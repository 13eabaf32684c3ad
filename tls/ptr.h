// The OpenSSL RAII aliases, re-exported under portcullis::tls (they live in certs/ptr.h).
#pragma once

#include "certs/ptr.h"

namespace portcullis::tls {
using certs::BioPtr;
using certs::EvpPkeyPtr;
using certs::SslCtxPtr;
using certs::SslPtr;
using certs::X509Ptr;
}  // namespace portcullis::tls
