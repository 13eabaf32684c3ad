// Session tickets end to end in memory: a client SSL and a server TlsStream made from a front
// context with the SNI and ticket callbacks, bytes pumped between two memory BIOs.
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "certs/pem.h"
#include "tests/unit/certs/test_util.h"
#include "tls/context.h"
#include "tls/sni.h"
#include "tls/stream.h"
#include "tls/tickets.h"

namespace portcullis::tls {
namespace {

using certs::testing::TempDir;
using SessionPtr = std::unique_ptr<SSL_SESSION, certs::Free<SSL_SESSION_free>>;

constexpr std::int64_t kNow = 1700000000;

// --- ClientHello inspection: did the client actually offer a ticket? --------------------------

struct HelloSeen {
  bool seen = false;
  bool offered_ticket = false;  // TLS 1.3 pre_shared_key, or a non-empty TLS 1.2 session_ticket
};

bool hello_offers_ticket(const unsigned char* p, std::size_t n) {
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

void on_client_msg(int write_p, int, int content_type, const void* buf, std::size_t len, SSL*,
                   void* arg) noexcept {
  auto* seen = static_cast<HelloSeen*>(arg);
  const auto* p = static_cast<const unsigned char*>(buf);
  if (write_p == 1 && content_type == SSL3_RT_HANDSHAKE && len > 4 && p[0] == 1 && !seen->seen) {
    seen->seen = true;
    seen->offered_ticket = hello_offers_ticket(p, len);
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
  std::optional<std::uint32_t> tenant;
  std::string peer_fingerprint;  // the certificate the client saw (empty when resumed)
  std::string version;
  std::string detail;            // failure details
  SessionPtr session;            // the client's session afterwards, for the next connection
};

SslCtxPtr make_client(const Pki& pki) {
  ClientContextSpec spec;
  spec.ca_bundle = pki.ca_pem;
  ContextResult r = make_client_context(spec);
  INFO(r.error);
  REQUIRE(r.ctx);
  return std::move(r.ctx);
}

// One connection: client (max_version, optional session to offer) -> gateway, pumped in memory.
// No Catch2 macros inside, so worker threads may call it; failures land in Outcome::detail.
Outcome connect_raw(const Gateway& gw, SSL_CTX* client_ctx, const char* sni, int max_version,
                    SSL_SESSION* offer) {
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

Outcome connect(const Gateway& gw, SSL_CTX* client_ctx, const char* sni, int max_version,
                SSL_SESSION* offer) {
  Outcome out = connect_raw(gw, client_ctx, sni, max_version, offer);
  if (!out.ok) {
    UNSCOPED_INFO(out.detail);
  }
  return out;
}

// The first 16 bytes of an OpenSSL ticket are the name of the key that encrypted it.
std::string ticket_key_name(SSL_SESSION* s) {
  const unsigned char* tick = nullptr;
  std::size_t len = 0;
  SSL_SESSION_get0_ticket(s, &tick, &len);
  if (tick == nullptr || len < kTicketKeyNameSize) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(tick), kTicketKeyNameSize);
}

std::string key_name(const TicketKey& k) {
  return std::string(reinterpret_cast<const char*>(k.name), kTicketKeyNameSize);
}

std::string record_of(const TicketKey& k) {
  std::string r;
  r.append(reinterpret_cast<const char*>(k.name), sizeof k.name);
  r.append(reinterpret_cast<const char*>(k.aes_key), sizeof k.aes_key);
  r.append(reinterpret_cast<const char*>(k.hmac_key), sizeof k.hmac_key);
  return r;
}

std::string write_file(const TempDir& dir, const std::string& name, const std::string& bytes,
                       mode_t mode = 0600) {
  const std::string path = dir.path() + "/" + name;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(out.good());
  }
  REQUIRE(::chmod(path.c_str(), mode) == 0);
  return path;
}

std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

const char* version_name(int v) { return v == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2"; }

}  // namespace

// --- key sets ------------------------------------------------------------------------------------

TEST_CASE("generate makes one random key; rotated keeps the newest three", "[tickets]") {
  auto k1 = TicketKeys::generate(kNow);
  REQUIRE(k1);
  REQUIRE(k1->keys().size() == 1);
  CHECK(k1->keys()[0].created_unix == kNow);
  auto other = TicketKeys::generate(kNow);
  REQUIRE(other);
  CHECK(key_name(k1->keys()[0]) != key_name(other->keys()[0]));
  CHECK(std::memcmp(k1->keys()[0].aes_key, other->keys()[0].aes_key, kTicketAesKeySize) != 0);

  auto k2 = k1->rotated(kNow + 10);
  auto k3 = k2->rotated(kNow + 20);
  auto k4 = k3->rotated(kNow + 30);
  REQUIRE(k2->keys().size() == 2);
  REQUIRE(k3->keys().size() == 3);
  REQUIRE(k4->keys().size() == 3);
  CHECK(k4->keys()[0].created_unix == kNow + 30);
  CHECK(key_name(k4->keys()[1]) == key_name(k3->keys()[0]));
  CHECK(key_name(k4->keys()[2]) == key_name(k2->keys()[0]));
  CHECK(k4->find(k1->keys()[0].name) == nullptr);
  CHECK(k3->find(k1->keys()[0].name) == &k3->keys()[2]);
  // The originals are immutable.
  CHECK(k1->keys().size() == 1);
  CHECK(k3->keys().size() == 3);
}

TEST_CASE("TicketKeyStore swaps the current set", "[tickets]") {
  TicketKeyStore store;
  CHECK_FALSE(store.get());
  auto a = TicketKeys::generate(kNow);
  store.set(a);
  CHECK(store.get() == a);
  auto b = a->rotated(kNow + 1);
  store.set(b);
  CHECK(store.get() == b);
  CHECK(a->keys().size() == 1);
}

// --- resumption ------------------------------------------------------------------------------

TEST_CASE("a session resumes on the same tenant with the same keys", "[tickets]") {
  Pki pki;
  TicketKeyStore store(TicketKeys::generate(kNow));
  Gateway gw(pki, &store);
  SslCtxPtr client = make_client(pki);

  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    INFO(version_name(version));
    Outcome first = connect(gw, client.get(), "a.example.com", version, nullptr);
    REQUIRE(first.ok);
    CHECK(first.version == version_name(version));
    CHECK_FALSE(first.server_resumed);
    CHECK(first.tenant == 0u);
    CHECK(first.peer_fingerprint == pki.fingerprint[0]);
    REQUIRE(first.session);
    REQUIRE(SSL_SESSION_is_resumable(first.session.get()) == 1);
    // Our callback issued it: the ticket carries the current key's name.
    CHECK(ticket_key_name(first.session.get()) == key_name(store.get()->keys()[0]));

    Outcome again = connect(gw, client.get(), "a.example.com", version, first.session.get());
    REQUIRE(again.ok);
    CHECK(again.offered_ticket);
    CHECK(again.server_resumed);
    CHECK(again.client_resumed);
    CHECK(again.tenant == 0u);
  }
}

TEST_CASE("a session from tenant A is never resumed on tenant B", "[tickets]") {
  Pki pki;
  TicketKeyStore store(TicketKeys::generate(kNow));
  Gateway gw(pki, &store);
  SslCtxPtr client = make_client(pki);

  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    INFO(version_name(version));
    Outcome a = connect(gw, client.get(), "a.example.com", version, nullptr);
    REQUIRE(a.ok);
    REQUIRE(a.session);

    // Same keys decrypt the ticket, but tenant B's session-id context differs: full handshake
    // with B's own certificate.
    Outcome b = connect(gw, client.get(), "b.example.com", version, a.session.get());
    REQUIRE(b.ok);
    CHECK(b.offered_ticket);  // the client did offer A's ticket
    CHECK_FALSE(b.server_resumed);
    CHECK_FALSE(b.client_resumed);
    CHECK(b.tenant == 1u);
    CHECK(b.peer_fingerprint == pki.fingerprint[1]);
    CHECK(b.peer_fingerprint != pki.fingerprint[0]);

    // And A's ticket still works on A (the refusal above was about the tenant, not the ticket).
    Outcome back = connect(gw, client.get(), "a.example.com", version, a.session.get());
    REQUIRE(back.ok);
    CHECK(back.server_resumed);
    CHECK(back.tenant == 0u);

    // B's own session resumes on B but not on A.
    REQUIRE(b.session);
    Outcome b_on_a = connect(gw, client.get(), "a.example.com", version, b.session.get());
    REQUIRE(b_on_a.ok);
    CHECK(b_on_a.offered_ticket);
    CHECK_FALSE(b_on_a.server_resumed);
    CHECK(b_on_a.peer_fingerprint == pki.fingerprint[0]);
    Outcome b_on_b = connect(gw, client.get(), "b.example.com", version, b.session.get());
    REQUIRE(b_on_b.ok);
    CHECK(b_on_b.server_resumed);
  }
}

TEST_CASE("two gateways sharing a key file resume each other's sessions", "[tickets]") {
  Pki pki;
  TempDir dir;
  auto source = TicketKeys::generate(kNow)->rotated(kNow + 1);  // two keys, first encrypts
  const std::string path = write_file(dir, "ticket.keys",
                                      record_of(source->keys()[0]) + record_of(source->keys()[1]));
  std::string err;
  auto keys1 = TicketKeys::load_file(path, err);
  INFO(err);
  REQUIRE(keys1);
  auto keys2 = TicketKeys::load_file(path, err);
  REQUIRE(keys2);
  TicketKeyStore store1(keys1);
  TicketKeyStore store2(keys2);
  TicketKeyStore unrelated(TicketKeys::generate(kNow));
  Gateway gw1(pki, &store1);
  Gateway gw2(pki, &store2);
  Gateway gw3(pki, &unrelated);
  SslCtxPtr client = make_client(pki);

  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    INFO(version_name(version));
    Outcome first = connect(gw1, client.get(), "a.example.com", version, nullptr);
    REQUIRE(first.ok);
    REQUIRE(first.session);
    CHECK(ticket_key_name(first.session.get()) == key_name(source->keys()[0]));

    Outcome on2 = connect(gw2, client.get(), "a.example.com", version, first.session.get());
    REQUIRE(on2.ok);
    CHECK(on2.server_resumed);
    CHECK(on2.tenant == 0u);

    // A gateway with other keys cannot read the ticket: full handshake, no failure.
    Outcome on3 = connect(gw3, client.get(), "a.example.com", version, first.session.get());
    REQUIRE(on3.ok);
    CHECK(on3.offered_ticket);
    CHECK_FALSE(on3.server_resumed);
    CHECK(on3.peer_fingerprint == pki.fingerprint[0]);
  }
}

TEST_CASE("a ticket survives two rotations and dies at the third", "[tickets]") {
  Pki pki;
  TicketKeyStore store(TicketKeys::generate(kNow));
  Gateway gw(pki, &store);
  SslCtxPtr client = make_client(pki);

  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    INFO(version_name(version));
    store.set(TicketKeys::generate(kNow));
    Outcome first = connect(gw, client.get(), "a.example.com", version, nullptr);
    REQUIRE(first.ok);
    REQUIRE(first.session);

    for (int rotation = 1; rotation <= 2; ++rotation) {
      INFO("rotation " << rotation);
      store.set(store.get()->rotated(kNow + rotation));
      Outcome r = connect(gw, client.get(), "a.example.com", version, first.session.get());
      REQUIRE(r.ok);
      CHECK(r.server_resumed);
      // Decrypted with an old key, so the server renewed the ticket under the current key.
      REQUIRE(r.session);
      CHECK(ticket_key_name(r.session.get()) == key_name(store.get()->keys()[0]));
      CHECK(ticket_key_name(r.session.get()) != ticket_key_name(first.session.get()));
    }
    store.set(store.get()->rotated(kNow + 3));
    Outcome dead = connect(gw, client.get(), "a.example.com", version, first.session.get());
    REQUIRE(dead.ok);
    CHECK(dead.offered_ticket);
    CHECK_FALSE(dead.server_resumed);
    CHECK_FALSE(dead.client_resumed);
    CHECK(dead.peer_fingerprint == pki.fingerprint[0]);
  }
}

TEST_CASE("an empty store issues no tickets and handshakes still succeed", "[tickets]") {
  Pki pki;
  TicketKeyStore store;
  Gateway gw(pki, &store);
  SslCtxPtr client = make_client(pki);
  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    INFO(version_name(version));
    Outcome first = connect(gw, client.get(), "a.example.com", version, nullptr);
    REQUIRE(first.ok);
    REQUIRE(first.session);
    CHECK(ticket_key_name(first.session.get()).empty());
    if (version == TLS1_3_VERSION) {
      CHECK(SSL_SESSION_is_resumable(first.session.get()) == 0);
    }
    Outcome again = connect(gw, client.get(), "a.example.com", version, first.session.get());
    REQUIRE(again.ok);
    CHECK_FALSE(again.server_resumed);
  }
}

TEST_CASE("handshakes on worker threads while the main thread rotates keys", "[tickets]") {
  Pki pki;
  TicketKeyStore store(TicketKeys::generate(kNow));
  Gateway gw(pki, &store);
  constexpr int kThreads = 4;
  constexpr int kRounds = 15;
  std::atomic<int> failed{0};
  std::atomic<int> resumed{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      const int version = t % 2 == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
      // One client context per thread, as separate clients would have: the server side (front
      // context, tenant contexts, store) is what is shared here.
      ClientContextSpec spec;
      spec.ca_bundle = pki.ca_pem;
      ContextResult client = make_client_context(spec);
      if (!client.ctx) {
        failed += kRounds;
        return;
      }
      for (int i = 0; i < kRounds; ++i) {
        Outcome first = connect_raw(gw, client.ctx.get(), "a.example.com", version, nullptr);
        Outcome again =
            connect_raw(gw, client.ctx.get(), "a.example.com", version, first.session.get());
        failed += (first.ok && again.ok) ? 0 : 1;
        resumed += again.server_resumed ? 1 : 0;
      }
    });
  }
  std::atomic<int> rotations{0};
  std::thread rotator([&] {
    std::int64_t now = kNow;
    while (!done.load()) {
      store.set(store.get()->rotated(++now));
      ++rotations;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  for (auto& w : workers) {
    w.join();
  }
  done = true;
  rotator.join();
  // Every handshake completes whatever key set it caught; resumption depends on the timing (a
  // ticket lives through two rotations), so it is only reported.
  CHECK(failed.load() == 0);
  CHECK(rotations.load() > 0);
  WARN("resumed " << resumed.load() << " of " << kThreads * kRounds << " under "
                  << rotations.load() << " rotations");
  CHECK(store.get()->keys().size() == kTicketKeysKept);
}

// --- key files -----------------------------------------------------------------------------

TEST_CASE("key files: binary and base64 forms load the same keys", "[tickets]") {
  TempDir dir;
  auto source = TicketKeys::generate(kNow)->rotated(kNow + 1)->rotated(kNow + 2);
  std::string binary;
  std::string text = "# fleet ticket keys, first encrypts\n\n";
  for (const TicketKey& k : source->keys()) {
    binary += record_of(k);
    text += base64(record_of(k)) + "\r\n";
  }
  std::string err;
  auto from_binary = TicketKeys::load_file(write_file(dir, "bin.keys", binary), err);
  INFO(err);
  REQUIRE(from_binary);
  auto from_text = TicketKeys::load_file(write_file(dir, "text.keys", text, 0400), err);
  REQUIRE(from_text);
  REQUIRE(from_binary->keys().size() == 3);
  REQUIRE(from_text->keys().size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(record_of(from_binary->keys()[i]) == record_of(source->keys()[i]));
    CHECK(record_of(from_text->keys()[i]) == record_of(source->keys()[i]));
  }
  CHECK(from_binary->keys()[0].created_unix > 0);
}

TEST_CASE("key files: bad files are refused with a clear reason", "[tickets]") {
  TempDir dir;
  const std::string one = record_of(TicketKeys::generate(kNow)->keys()[0]);
  std::string err;
  auto refused = [&](const std::string& path, const std::string& why) {
    err.clear();
    auto keys = TicketKeys::load_file(path, err);
    INFO("error: " << err);
    CHECK_FALSE(keys);
    CHECK(err.find(path) != std::string::npos);
    CHECK(err.find(why) != std::string::npos);
  };

  refused(dir.path() + "/missing.keys", "No such file");
  refused(dir.path(), "not a regular file");
  refused(write_file(dir, "empty.keys", ""), "empty");
  refused(write_file(dir, "short.keys", one.substr(0, 79)), "not a multiple of 80");
  refused(write_file(dir, "long.keys", one + "\x01"), "not a multiple of 80");
  refused(write_file(dir, "aes128.keys", std::string(48, '\x07')), "AES-128");
  refused(write_file(dir, "world.keys", one, 0644), "mode 0644");
  refused(write_file(dir, "group.keys", one, 0640), "group or others");
  refused(write_file(dir, "zero.keys", std::string(80, '\0')), "all zeros");
  refused(write_file(dir, "dup.keys", one + one), "same name as key 1");
  std::string many;
  for (std::size_t i = 0; i <= kMaxTicketKeysInFile; ++i) {
    many += record_of(TicketKeys::generate(kNow)->keys()[0]);
  }
  refused(write_file(dir, "many.keys", many), "at most 16");
  refused(write_file(dir, "comments.keys", "# nothing here\n\n"), "no keys");
  refused(write_file(dir, "b64short.keys", base64(one.substr(0, 48)) + "\n"), "line 1");
  refused(write_file(dir, "b64bad.keys", base64(one) + "\n" + base64(one).substr(1) + "\n"),
          "line 2");

  // The same content with a safe mode loads.
  err.clear();
  auto ok = TicketKeys::load_file(write_file(dir, "fine.keys", one, 0600), err);
  INFO(err);
  CHECK(ok);
  CHECK(err.empty());
}

}  // namespace portcullis::tls
