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

#include "tests/unit/tls/tls_harness.h"

namespace portcullis::tls {
namespace {

using namespace testing;  // NOLINT: the shared handshake harness

std::string ticket_bytes(SSL_SESSION* s) {
  const unsigned char* tick = nullptr;
  std::size_t len = 0;
  SSL_SESSION_get0_ticket(s, &tick, &len);
  return tick == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(tick), len);
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

TEST_CASE("TLS 1.3: one ticket per handshake and a fresh one after every resumption",
          "[tickets]") {
  Pki pki;
  TicketKeyStore store(TicketKeys::generate(kNow));
  Gateway gw(pki, &store);
  SslCtxPtr client = make_client(pki);

  Outcome first = connect(gw, client.get(), "a.example.com", TLS1_3_VERSION, nullptr);
  REQUIRE(first.ok);
  CHECK(first.tickets == 1);
  REQUIRE(first.session);
  // A client that uses each ticket once (RFC 8446 C.4): every connection spends the ticket the
  // previous one received, so each must get a new one to keep resuming.
  SessionPtr offer = std::move(first.session);
  for (int i = 0; i < 5; ++i) {
    INFO("connection " << i + 2);
    Outcome r = connect(gw, client.get(), "a.example.com", TLS1_3_VERSION, offer.get());
    REQUIRE(r.ok);
    CHECK(r.offered_ticket);
    CHECK(r.server_resumed);
    CHECK(r.tickets == 1);
    REQUIRE(r.session);
    CHECK(ticket_bytes(r.session.get()) != ticket_bytes(offer.get()));
    CHECK(ticket_key_name(r.session.get()) == key_name(store.get()->keys()[0]));
    offer = std::move(r.session);
  }
}

TEST_CASE("TLS 1.2: a resumption under the current key keeps its ticket", "[tickets]") {
  Pki pki;
  TicketKeyStore store(TicketKeys::generate(kNow));
  Gateway gw(pki, &store);
  SslCtxPtr client = make_client(pki);

  Outcome first = connect(gw, client.get(), "a.example.com", TLS1_2_VERSION, nullptr);
  REQUIRE(first.ok);
  CHECK(first.tickets == 1);
  REQUIRE(first.session);
  Outcome again = connect(gw, client.get(), "a.example.com", TLS1_2_VERSION, first.session.get());
  REQUIRE(again.ok);
  CHECK(again.server_resumed);
  CHECK(again.tickets == 0);
  REQUIRE(again.session);
  CHECK(ticket_bytes(again.session.get()) == ticket_bytes(first.session.get()));
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
