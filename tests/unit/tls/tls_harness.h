// In-memory TLS handshakes for the tls/ unit tests: a two-tenant PKI, a "gateway" (tenant
// contexts, SNI table, front context with the SNI and ticket callbacks) and one connection
// pumped between a client SSL and a server TlsStream. Test-only header (inline functions).
#pragma once

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "certs/pem.h"
#include "tests/unit/certs/test_util.h"
#include "tls/context.h"
#include "tls/sni.h"
#include "tls/stream.h"
#include "tls/tickets.h"

namespace portcullis::tls::testing {

using certs::testing::TempDir;
using SessionPtr = std::unique_ptr<SSL_SESSION, certs::Free<SSL_SESSION_free>>;

inline constexpr std::int64_t kNow = 1700000000;

// --- ClientHello inspection: did the client actually offer a ticket? --------------------------

struct HelloSeen {
  bool seen = false;
  bool offered_ticket = false;  // TLS 1.3 pre_shared_key, or a non-empty TLS 1.2 session_ticket
  int tickets = 0;              // NewSessionTicket messages the client received
};

inline bool hello_offers_ticket(const unsigned char* p, std::size_t n) {
  std::size_t pos = 4 + 2 + 32;  // handshake header, legacy_version, random
  if (pos + 1 > n) {
    return false;
  }
  pos += 1 + p[pos];  // legacy_session_id
  if (pos + 2 > n) {
    return false;
  }
  pos += 2 + ((std::size_t{p[pos]} << 8) | p[pos + 1]);  // cipher_suites
  if (pos + 1 > n) {
    return false;
  }
  pos += 1 + p[pos];  // compression_methods
  if (pos + 2 > n) {
    return false;
  }
  const std::size_t end = pos + 2 + ((std::size_t{p[pos]} << 8) | p[pos + 1]);
  pos += 2;
  while (pos + 4 <= end && end <= n) {
    const unsigned type = (unsigned{p[pos]} << 8) | p[pos + 1];
    const std::size_t len = (std::size_t{p[pos + 2]} << 8) | p[pos + 3];
    if (type == 41 || (type == 35 && len > 0)) {
      return true;
    }
    pos += 4 + len;
  }
  return false;
}

inline void on_client_msg(int write_p, int, int content_type, const void* buf, std::size_t len,
                          SSL*, void* arg) noexcept {
  auto* seen = static_cast<HelloSeen*>(arg);
  const auto* p = static_cast<const unsigned char*>(buf);
  if (write_p == 1 && content_type == SSL3_RT_HANDSHAKE && len > 4 && p[0] == 1 && !seen->seen) {
    seen->seen = true;
    seen->offered_ticket = hello_offers_ticket(p, len);
  }
  if (write_p == 0 && content_type == SSL3_RT_HANDSHAKE && len >= 4 &&
      p[0] == SSL3_MT_NEWSESSION_TICKET) {
    ++seen->tickets;
  }
}

// --- PKI and contexts -------------------------------------------------------------------------

// Two tenants (a.example.com, b.example.com) from one CA, files in a temp dir.
struct Pki {
  TempDir dir;
  std::string ca_pem;
  std::string chain[2];
  std::string key[2];
  std::string fingerprint[2];

  Pki() {
    certs::IssuedCert ca = certs::testing::make_ca("Ticket Test CA");
    std::string err;
    ca_pem = dir.path() + "/ca.pem";
    const bool wrote = certs::write_certs_pem(ca_pem, {ca.cert.get()}, err);
    INFO(err);
    REQUIRE(wrote);
    const char* names[2] = {"a.example.com", "b.example.com"};
    for (int i = 0; i < 2; ++i) {
      certs::CertSpec spec;
      spec.common_name = names[i];
      spec.dns = {names[i]};
      certs::IssuedCert leaf = certs::testing::make_leaf(spec, ca);
      chain[i] = dir.path() + "/" + names[i] + ".pem";
      key[i] = dir.path() + "/" + names[i] + ".key";
      const bool ok = certs::write_certs_pem(chain[i], {leaf.cert.get(), ca.cert.get()}, err) &&
                      certs::write_key_pem(key[i], leaf.key.get(), err);
      INFO(err);
      REQUIRE(ok);
      fingerprint[i] = certs::fingerprint_sha256(leaf.cert.get());
    }
  }
};

// One "process": tenant contexts, SNI table, and a front context with both callbacks.
struct Gateway {
  SslCtxPtr tenant_ctx[2];
  SniTable table;
  SniSelector selector;
  SslCtxPtr front;

  Gateway(const Pki& pki, const TicketKeyStore* store) {
    const char* sids[2] = {"t:a", "t:b"};
    const char* names[2] = {"a.example.com", "b.example.com"};
    for (std::uint32_t i = 0; i < 2; ++i) {
      ServerContextSpec spec;
      spec.cert_chain = pki.chain[i];
      spec.key = pki.key[i];
      spec.min_version = TLS1_2_VERSION;
      spec.session_id_context = sids[i];
      ContextResult r = make_server_context(spec);
      INFO(r.error);
      REQUIRE(r.ctx);
      tenant_ctx[i] = std::move(r.ctx);
      table.add_tenant(TenantTls{tenant_ctx[i].get(), TLS1_2_VERSION, i});
      REQUIRE(table.add_host(names[i], i));
    }
    selector.table = &table;
    ContextResult f = make_front_context(true);
    INFO(f.error);
    REQUIRE(f.ctx);
    front = std::move(f.ctx);
    install_client_hello_callback(front.get());
    install_ticket_callback(front.get(), store);
  }
};

struct Outcome {
  bool ok = false;
  bool server_resumed = false;
  bool client_resumed = false;
  bool offered_ticket = false;
  int tickets = 0;  // NewSessionTicket messages received on this connection
  std::optional<std::uint32_t> tenant;
  std::string peer_fingerprint;  // the certificate the client saw (empty when resumed)
  std::string version;
  std::string detail;            // failure details
  SessionPtr session;            // the client's session afterwards, for the next connection
};

inline SslCtxPtr make_client(const Pki& pki) {
  ClientContextSpec spec;
  spec.ca_bundle = pki.ca_pem;
  ContextResult r = make_client_context(spec);
  INFO(r.error);
  REQUIRE(r.ctx);
  return std::move(r.ctx);
}

// One connection: client (max_version, optional session to offer) -> gateway, pumped in memory.
// No Catch2 macros inside, so worker threads may call it; failures land in Outcome::detail.
inline Outcome connect_raw(const Gateway& gw, SSL_CTX* client_ctx, const char* sni,
                           int max_version, SSL_SESSION* offer) {
  Outcome out;
  SslPtr sssl(SSL_new(gw.front.get()));
  SslPtr cssl(SSL_new(client_ctx));
  if (!sssl || !cssl || SSL_set_tlsext_host_name(cssl.get(), sni) != 1 ||
      SSL_set_max_proto_version(cssl.get(), max_version) != 1) {
    out.detail = "setup failed";
    return out;
  }
  if (offer != nullptr) {
    // Offer a copy: the OpenSSL client retires a session it has used (TLS 1.3 tickets are
    // single use; a renewed TLS 1.2 ticket replaces the old session), and the tests offer the
    // same original several times.
    SessionPtr copy(SSL_SESSION_dup(offer));
    if (!copy || SSL_set_session(cssl.get(), copy.get()) != 1) {
      out.detail = "cannot set the session";
      return out;
    }
  }
  TlsStream server(std::move(sssl), Role::server);
  bind_selector(server.ssl(), &gw.selector);
  HelloSeen hello;
  SSL_set_msg_callback(cssl.get(), on_client_msg);
  SSL_set_msg_callback_arg(cssl.get(), &hello);
  TlsStream client(std::move(cssl), Role::client);

  client.start();
  for (int round = 0; round < 20; ++round) {
    std::string c2s;
    client.take_output(c2s);
    if (!c2s.empty()) {
      server.feed(c2s);
    }
    std::string s2c;
    server.take_output(s2c);
    if (!s2c.empty()) {
      client.feed(s2c);
      if (client.established()) {
        std::string plain;  // processes post-handshake messages: TLS 1.3 NewSessionTicket
        client.read(plain);
      }
    }
    if (client.failure() != Failure::none || server.failure() != Failure::none) {
      break;
    }
    if (client.established() && server.established() && !client.has_output() &&
        !server.has_output()) {
      break;
    }
  }
  out.detail = "client: " + client.failure_detail() + " server: " + server.failure_detail();
  out.ok = client.established() && server.established();
  out.server_resumed = server.summary().resumed;
  out.client_resumed = SSL_session_reused(client.ssl()) == 1;
  out.offered_ticket = hello.offered_ticket;
  out.tickets = hello.tickets;
  out.tenant = selected_tenant(server.ssl());
  out.peer_fingerprint = client.summary().peer_cert_sha256;
  out.version = client.summary().version;
  out.session.reset(SSL_get1_session(client.ssl()));
  // A client SSL freed without close_notify marks its session not resumable (OpenSSL treats it
  // as a possibly truncated connection), so close cleanly as a real client does.
  client.shutdown();
  server.shutdown();
  return out;
}

inline Outcome connect(const Gateway& gw, SSL_CTX* client_ctx, const char* sni, int max_version,
                       SSL_SESSION* offer) {
  Outcome out = connect_raw(gw, client_ctx, sni, max_version, offer);
  if (!out.ok) {
    UNSCOPED_INFO(out.detail);
  }
  return out;
}

// The first 16 bytes of an OpenSSL ticket are the name of the key that encrypted it.
inline std::string ticket_key_name(SSL_SESSION* s) {
  const unsigned char* tick = nullptr;
  std::size_t len = 0;
  SSL_SESSION_get0_ticket(s, &tick, &len);
  if (tick == nullptr || len < kTicketKeyNameSize) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(tick), kTicketKeyNameSize);
}

inline std::string key_name(const TicketKey& k) {
  return std::string(reinterpret_cast<const char*>(k.name), kTicketKeyNameSize);
}

inline const char* version_name(int v) { return v == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2"; }

}  // namespace portcullis::tls::testing
