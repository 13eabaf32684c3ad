// SNI: the server_name parser, and the alert the gateway's front context answers to a real
// OpenSSL ClientHello whose server_name extension was replaced byte for byte.
#include <string>
#include <vector>

#include "tests/unit/tls/tls_harness.h"
#include "tls/client_hello.h"

namespace portcullis::tls {
namespace {

using namespace testing;  // NOLINT: the shared handshake harness

constexpr int kDecodeError = 50;
constexpr int kUnrecognizedName = 112;

std::string sni_body(const std::string& name) {
  std::string entry = std::string(1, '\0') + char(name.size() >> 8) + char(name.size() & 0xff) +
                      name;
  return std::string(1, char(entry.size() >> 8)) + char(entry.size() & 0xff) + entry;
}

SniParse parse(const std::string& body, std::string& out) {
  return parse_server_name(reinterpret_cast<const unsigned char*>(body.data()), body.size(), out);
}

void put16(std::string& s, std::size_t at, std::size_t v) {
  s[at] = static_cast<char>((v >> 8) & 0xff);
  s[at + 1] = static_cast<char>(v & 0xff);
}

// The first record an OpenSSL client sends for `sni`: one ClientHello.
std::string real_hello(const std::string& sni) {
  ClientContextSpec spec;
  spec.ca_bundle = "system";
  ContextResult c = make_client_context(spec);
  REQUIRE(c.ctx);
  SslPtr ssl(SSL_new(c.ctx.get()));
  REQUIRE(ssl);
  REQUIRE(SSL_set_tlsext_host_name(ssl.get(), sni.c_str()) == 1);
  TlsStream client(std::move(ssl), Role::client);
  client.start();
  std::string out;
  client.take_output(out);
  REQUIRE(out.size() > 9);
  REQUIRE(out[0] == 22);
  return out;
}

// `hello` with the server_name extension's body replaced by `body`, every enclosing length
// (extension, extension block, handshake message, record) fixed to match.
std::string with_sni_body(const std::string& hello, const std::string& body) {
  const auto u8 = [&](std::size_t i) { return static_cast<unsigned char>(hello[i]); };
  const auto u16 = [&](std::size_t i) { return (std::size_t{u8(i)} << 8) | u8(i + 1); };
  std::size_t pos = 5 + 4 + 2 + 32;
  pos += 1 + u8(pos);   // session id
  pos += 2 + u16(pos);  // cipher suites
  pos += 1 + u8(pos);   // compression methods
  const std::size_t ext_block = pos;
  pos += 2;
  while (pos + 4 <= hello.size() && u16(pos) != 0) {
    pos += 4 + u16(pos + 2);
  }
  REQUIRE(pos + 4 <= hello.size());
  const std::size_t old_len = u16(pos + 2);
  std::string out = hello.substr(0, pos + 4) + body + hello.substr(pos + 4 + old_len);
  const std::size_t delta_add = body.size();
  const auto fix = [&](std::size_t at, std::size_t old_value) {
    put16(out, at, old_value + delta_add - old_len);
  };
  fix(pos + 2, old_len);
  fix(ext_block, u16(ext_block));
  fix(3, u16(3));  // record length
  fix(7, u16(7));  // handshake length: 24 bits, the top byte is 0 for a hello this small
  REQUIRE(u8(6) == 0);
  return out;
}

struct Answer {
  bool alert = false;
  unsigned char description = 0;
  bool handshake = false;  // the server answered with handshake records (ServerHello...)
};

// Feeds `hello` to a fresh server SSL from the gateway's front context and reads its answer.
Answer answer_to(const Gateway& gw, const std::string& hello) {
  SslPtr sssl(SSL_new(gw.front.get()));
  REQUIRE(sssl);
  TlsStream server(std::move(sssl), Role::server);
  bind_selector(server.ssl(), &gw.selector);
  server.feed(hello);
  std::string out;
  server.take_output(out);
  Answer a;
  if (out.size() >= 7 && out[0] == 21) {
    a.alert = true;
    a.description = static_cast<unsigned char>(out[6]);
  }
  a.handshake = !out.empty() && out[0] == 22;
  return a;
}

}  // namespace

TEST_CASE("parse_server_name: exactly one host_name that ends the list", "[sni]") {
  std::string name = "kept";
  CHECK(parse(sni_body("A.Example.COM"), name) == SniParse::ok);
  CHECK(name == "a.example.com");

  const std::string good = sni_body("a.example.com");
  std::string bad_list_len = good;
  put16(bad_list_len, 0, good.size() - 1);  // list shorter than the extension
  std::string short_name = good;
  put16(short_name, 3, 12);  // one byte of the name left over
  std::string long_name = good;
  put16(long_name, 3, 14);
  const std::vector<std::string> malformed = {
      "",                                      // empty extension
      std::string("\x00", 1),                  // half a length
      std::string("\x00\x00", 2),              // empty list
      bad_list_len,
      short_name,
      long_name,
      good + std::string("\x00\x00\x00", 3),   // bytes after the list (list length now wrong)
      sni_body("a.example.com").substr(0, 2) + std::string("\x01", 1) + good.substr(3),  // type 1
      sni_body(""),                            // empty name
      sni_body(std::string(256, 'a')),         // longer than 255
      sni_body("a b.example.com"),
      sni_body(std::string("a\0b", 3)),
  };
  for (std::size_t i = 0; i < malformed.size(); ++i) {
    INFO("case " << i);
    name = "kept";
    CHECK(parse(malformed[i], name) == SniParse::malformed);
    CHECK(name == "kept");
  }
  // Two entries whose lengths each parse: a corrupted list must not yield the first name.
  std::string two = sni_body("a.example.com");
  const std::string second = std::string("\x00\x00\x01", 3) + "b";
  two += second;
  put16(two, 0, two.size() - 2);
  CHECK(parse(two, name) == SniParse::malformed);
}

TEST_CASE("malformed server_name gets decode_error, an unknown name unrecognized_name",
          "[sni]") {
  Pki pki;
  TicketKeyStore store(TicketKeys::generate(1700000000));
  Gateway gw(pki, &store);
  const std::string hello = real_hello("a.example.com");

  // The unmodified hello, and one rebuilt with the same body, are served.
  CHECK(answer_to(gw, hello).handshake);
  CHECK(answer_to(gw, with_sni_body(hello, sni_body("a.example.com"))).handshake);
  CHECK(parse_client_hello(hello).sni == "a.example.com");

  const Answer unknown = answer_to(gw, with_sni_body(hello, sni_body("nobody.example.com")));
  CHECK(unknown.alert);
  CHECK(int(unknown.description) == kUnrecognizedName);

  std::string good = sni_body("a.example.com");
  std::string corrupted_list = good;
  put16(corrupted_list, 0, good.size() + 3);
  std::string corrupted_name = good;
  put16(corrupted_name, 3, 10);
  std::string trailing_entry = good + std::string("\x00\x00\x01", 3) + "b";
  put16(trailing_entry, 0, trailing_entry.size() - 2);
  struct Case {
    const char* what;
    std::string body;
  };
  for (const Case& c : {Case{"empty extension", ""},
                        Case{"empty list", std::string("\x00\x00", 2)},
                        Case{"corrupted list length", corrupted_list},
                        Case{"corrupted name length", corrupted_name},
                        Case{"a second entry", trailing_entry},
                        Case{"bad byte in the name", sni_body("a\x01.example.com")}}) {
    INFO(c.what);
    const std::string bad = with_sni_body(hello, c.body);
    const Answer a = answer_to(gw, bad);
    CHECK(a.alert);
    CHECK(int(a.description) == kDecodeError);
    // The egress tunnel's peek refuses the same hellos.
    CHECK(parse_client_hello(bad).result == HelloParse::malformed);
  }
}

TEST_CASE("a quarantined tenant's name is refused: not by a wildcard, not by the fallback",
          "[sni]") {
  Pki pki;
  TicketKeyStore store(TicketKeys::generate(1700000000));
  Gateway gw(pki, &store);
  // b also serves *.example.com, and unknown names fall back to a (unknown_sni = "a").
  REQUIRE(gw.table.add_host("*.example.com", 1));
  gw.selector.fallback = 0;
  TenantTls q;
  q.tenant = 2;
  q.quarantined = true;
  gw.table.add_tenant(q);
  REQUIRE(gw.table.add_host("q.example.com", 2));

  const std::string hello = real_hello("a.example.com");
  for (const char* served : {"a.example.com", "other.example.com", "nobody.test"}) {
    INFO(served);
    CHECK(answer_to(gw, with_sni_body(hello, sni_body(served))).handshake);
  }
  SslPtr sssl(SSL_new(gw.front.get()));
  REQUIRE(sssl);
  TlsStream server(std::move(sssl), Role::server);
  bind_selector(server.ssl(), &gw.selector);
  server.feed(with_sni_body(hello, sni_body("q.example.com")));
  std::string out;
  server.take_output(out);
  REQUIRE(out.size() >= 7);
  CHECK(out[0] == 21);  // an alert, no ServerHello
  CHECK(int(static_cast<unsigned char>(out[6])) == kUnrecognizedName);
  CHECK(server.failure() == Failure::tenant_quarantined);
  CHECK(server.requested_sni() == "q.example.com");
  CHECK_FALSE(selected_tenant(server.ssl()).has_value());
}

}  // namespace portcullis::tls
