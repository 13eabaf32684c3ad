// `portcullis certs inspect FILE`: a readable description of every certificate in a PEM file.
//
// What: for each certificate, one "key: value" per line: subject, dns/uri/ip SANs (one line
// each), issuer, serial, not_before/not_after (RFC 3339 UTC), key type/bits/curve, spki_pin
// and sha256 fingerprint; certificates are separated by a "certificate: N of M" line. A file
// holding only a private key is described by its key lines.
// Thread: reentrant.
// Ownership: nothing retained.
#pragma once

#include <cstdint>
#include <string>

#include "certs/ptr.h"

namespace portcullis::certs {

// The description, or (ok = false) a one-line error naming the file.
std::string inspect(const std::string& path, bool& ok);

// The lines for one certificate (no "certificate:" header).
std::string describe_cert(X509* cert);

// RFC 3339 UTC rendering of a Unix time ("2025-01-02T03:04:05Z").
std::string rfc3339(std::int64_t unix_seconds);

}  // namespace portcullis::certs
