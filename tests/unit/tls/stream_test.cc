// TlsStream::read(ciphertext, out): the established path decrypts straight from the borrowed
// bytes, and keeps a copy of only what is left (a partial record) for the next call.
#include <catch2/catch.hpp>

#include <string>

#include "tests/unit/tls/tls_harness.h"

namespace portcullis::tls::testing {
namespace {

struct Pair {
  SslCtxPtr server_ctx;
  SslCtxPtr client_ctx;
  std::optional<TlsStream> server;
  std::optional<TlsStream> client;

  explicit Pair(const Pki& pki) {
    ServerContextSpec spec;
    spec.cert_chain = pki.chain[0];
    spec.key = pki.key[0];
    spec.min_version = TLS1_2_VERSION;
    ContextResult r = make_server_context(spec);
    INFO(r.error);
    REQUIRE(r.ctx);
    server_ctx = std::move(r.ctx);
    client_ctx = make_client(pki);
    server.emplace(SslPtr(SSL_new(server_ctx.get())), Role::server);
    SslPtr cssl(SSL_new(client_ctx.get()));
    REQUIRE(SSL_set_tlsext_host_name(cssl.get(), "a.example.com") == 1);
    client.emplace(std::move(cssl), Role::client);
    client->start();
    for (int round = 0; round < 10 && !(client->established() && server->established());
         ++round) {
      std::string c2s;
      client->take_output(c2s);
      server->feed(c2s);
      std::string s2c;
      server->take_output(s2c);
      client->feed(s2c);
    }
    INFO(client->failure_detail() << " / " << server->failure_detail());
    REQUIRE(client->established());
    REQUIRE(server->established());
    std::string s2c;
    server->take_output(s2c);  // TLS 1.3 tickets
    std::string ignored;
    client->read(s2c, ignored);
  }
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>('a' + (i * 7) % 26);
  }
  return s;
}

}  // namespace

TEST_CASE("read(ciphertext) delivers every byte whatever the slicing of the records",
          "[tls][stream]") {
  Pki pki;
  Pair p(pki);
  // Three writes: 20,000 bytes (two records), 1 byte, 40,000 bytes (three records).
  const std::string sent = pattern(20000) + "x" + pattern(40000);
  REQUIRE(p.client->write(std::string_view(sent).substr(0, 20000)));
  REQUIRE(p.client->write(std::string_view(sent).substr(20000, 1)));
  REQUIRE(p.client->write(std::string_view(sent).substr(20001)));
  std::string wire;
  p.client->take_output(wire);
  REQUIRE(wire.size() > sent.size());

  const std::size_t slice = GENERATE(std::size_t{1}, std::size_t{5}, std::size_t{777},
                                     std::size_t{16389}, std::size_t{100000});
  INFO("slice " << slice);
  std::string got;
  std::string buffer;  // the socket's reused read buffer
  for (std::size_t at = 0; at < wire.size(); at += slice) {
    buffer.assign(wire, at, slice);
    REQUIRE(p.server->read(buffer, got) == Progress::ok);
    // The buffer is only borrowed: the next socket read overwrites it.
    buffer.assign(buffer.size(), '\xff');
  }
  REQUIRE(got.size() == sent.size());
  REQUIRE(got == sent);
}

TEST_CASE("read(ciphertext) reports a tampered record", "[tls][stream]") {
  Pki pki;
  Pair p(pki);
  REQUIRE(p.client->write("hello"));
  std::string wire;
  p.client->take_output(wire);
  wire[wire.size() - 1] ^= 1;  // the AEAD tag
  std::string got;
  REQUIRE(p.server->read(wire, got) == Progress::failed);
  REQUIRE(got.empty());
  REQUIRE(p.server->read("more", got) == Progress::failed);
}

}  // namespace portcullis::tls::testing
