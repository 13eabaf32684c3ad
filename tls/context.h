// SSL_CTX builders. Pure construction: no I/O beyond reading the PEM files they are given.
//
// Server side: every downstream SSL* is created from its listener's *front* context, which
// carries the client-hello (SNI) and ALPN callbacks and the session-ticket settings; the
// client-hello callback then switches the SSL to the tenant's context (see sni.h).
// Client side: one context for mesh mTLS (the gateway's workload certificate, the mesh trust
// bundle), one per egress destination.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tls/ptr.h"

namespace portcullis::tls {

struct ContextResult {
  SslCtxPtr ctx;
  std::string error;  // set when ctx is null; names the file at fault
};

// Parses "1.2" / "1.3" into TLS1_2_VERSION / TLS1_3_VERSION; 0 when invalid.
int parse_min_version(const std::string& v) noexcept;

struct ServerContextSpec {
  std::string cert_chain;   // PEM path, leaf first
  std::string key;          // PEM path
  std::string client_ca;    // optional: require client certificates from this bundle
  int min_version = 0;      // TLS1_2_VERSION by default
  std::string session_id_context;  // unique per tenant: sessions never cross tenants
};

// A memo for building many server contexts in a row (a snapshot of thousands of tenants).
// OpenSSL 3.0 spends most of a context's build setting up its decoders, once per private key
// and once per certificate; the loader keeps one key decoder for every key and parses each
// distinct chain (non-leaf) certificate once, so the CA most tenants share is parsed once, and
// the contexts share that one X509. Anything unusual in a file (not a plain CERTIFICATE block,
// PEM headers, an encrypted key...) goes through OpenSSL's own file loaders as before, with
// their error messages.
// Thread: not thread-safe; one loader per build. The contexts it helped build do not need it.
class ContextLoader {
 public:
  ContextLoader();
  ~ContextLoader();
  ContextLoader(const ContextLoader&) = delete;
  ContextLoader& operator=(const ContextLoader&) = delete;
  // Distinct chain certificates memoized (a long-lived loader is replaced past a bound).
  std::size_t cached_certificates() const noexcept;

  struct Impl;

 private:
  friend ContextResult make_server_context(const ServerContextSpec&, ContextLoader*);
  std::unique_ptr<Impl> impl_;
};

// `loader` (optional) speeds up a run of builds; the result is the same context either way.
ContextResult make_server_context(const ServerContextSpec& spec, ContextLoader* loader = nullptr);

// The listener's front context: no certificate of its own; ALPN h2 + http/1.1; tickets on.
ContextResult make_front_context(bool offer_h2);

struct ClientContextSpec {
  std::string cert_chain;  // optional client certificate (mesh mTLS)
  std::string key;
  std::string ca_bundle;   // PEM path: the ONLY roots trusted; "system" = default paths
  int min_version = 0;     // default TLS 1.2
  std::vector<std::string> alpn;  // e.g. {"h2"} or {"http/1.1"}
};
ContextResult make_client_context(const ClientContextSpec& spec);

}  // namespace portcullis::tls
