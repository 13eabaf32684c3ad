// AcmeChallenges: the answers to pending ACME challenges, shared by the ACME client (writer, its
// own thread) and the listeners (readers, every worker): HTTP-01 key authorizations by token
// (the plain-HTTP listener) and TLS-ALPN-01 contexts by host name (the client-hello callback).
//
// Thread:   every method from any thread, under one mutex; entries are few and short-lived
//           (one per authorization in flight), and lookups happen only on the rare challenge
//           request or `acme-tls/1` ClientHello, never on ordinary traffic.
// Lifetime: process-wide (instance()): the ACME client and the listeners live in different
//           layers and generations, and a challenge must be answerable across reloads.
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/ssl.h>

#include "tls/ptr.h"

namespace portcullis::tls {

class AcmeChallenges {
 public:
  static AcmeChallenges& instance();

  void put_http(const std::string& token, const std::string& key_authorization);
  void drop_http(const std::string& token);
  std::optional<std::string> http(std::string_view token) const;

  // `ctx` serves the RFC 8737 challenge certificate for `host` and selects `acme-tls/1`.
  void put_alpn(const std::string& host, SslCtxPtr ctx);
  void drop_alpn(const std::string& host);
  // A new reference to the context for `host`, or null.
  SslCtxPtr alpn(std::string_view host) const;

  std::size_t size() const;
  // Lock-free: whether any TLS-ALPN-01 answer is pending (every handshake asks).
  bool any_alpn() const noexcept { return alpn_count_.load(std::memory_order_acquire) != 0; }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> http_;
  std::map<std::string, SslCtxPtr, std::less<>> alpn_;
  std::atomic<std::size_t> alpn_count_{0};
};

}  // namespace portcullis::tls
