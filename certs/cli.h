// `portcullis certs ...`: command-line front end of the internal CA.
//
// What: parses the certs subcommands and runs them:
//   certs init-ca --dir DIR --name NAME [--trust-domain TD]
//   certs issue --ca DIR --out PREFIX [--dns NAME]... [--spiffe URI] [--ip IP]... [--days N]
//               [--key ec|rsa]
//   certs inspect FILE
// Options accept "--opt value" and "--opt=value". Output goes to stdout, errors to stderr.
// Thread: call from the main thread only (writes to stdout/stderr).
// Ownership: nothing retained.
#pragma once

namespace portcullis::certs {

inline constexpr int kCliOk = 0;
inline constexpr int kCliFailure = 1;
inline constexpr int kCliUsage = 2;

// argv[0] is "certs". Returns 0 ok, 1 failure, 2 usage error.
int certs_main(int argc, char** argv);

}  // namespace portcullis::certs
