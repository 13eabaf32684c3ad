#include "gateway/egress/dns_message.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "gateway/egress/address_class.h"

namespace {

using portcullis::gateway::egress::build_query;
using portcullis::gateway::egress::DnsAnswer;
using portcullis::gateway::egress::format_ipv6;
using portcullis::gateway::egress::kMaxCnameHops;
using portcullis::gateway::egress::kMaxPointerJumps;
using portcullis::gateway::egress::kQtypeA;
using portcullis::gateway::egress::kQtypeAaaa;
using portcullis::gateway::egress::kQtypeCname;
using portcullis::gateway::egress::parse_response;
using portcullis::gateway::egress::valid_query_name;

std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) {
    out.push_back(static_cast<char>(b));
  }
  return out;
}

std::string u16(std::uint16_t v) { return bytes({v >> 8, v & 0xff}); }
std::string u32(std::uint32_t v) {
  return u16(static_cast<std::uint16_t>(v >> 16)) + u16(static_cast<std::uint16_t>(v));
}

// Uncompressed wire name.
std::string wname(std::string_view text) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t dot = text.find('.', start);
    if (dot == std::string_view::npos) {
      dot = text.size();
    }
    out.push_back(static_cast<char>(dot - start));
    out.append(text.substr(start, dot - start));
    start = dot + 1;
  }
  out.push_back('\0');
  return out;
}

std::string ptr(std::uint16_t offset) { return u16(static_cast<std::uint16_t>(0xC000 | offset)); }

std::string header(std::uint16_t id, std::uint16_t flags, std::uint16_t an,
                   std::uint16_t qd = 1) {
  return u16(id) + u16(flags) + u16(qd) + u16(an) + u16(0) + u16(0);
}

std::string question(std::string_view name, std::uint16_t qtype) {
  return wname(name) + u16(qtype) + u16(1);
}

std::string rr(const std::string& owner, std::uint16_t type, std::uint32_t ttl,
               const std::string& rdata, std::uint16_t rclass = 1) {
  return owner + u16(type) + u16(rclass) + u32(ttl) +
         u16(static_cast<std::uint16_t>(rdata.size())) + rdata;
}

constexpr std::uint16_t kResp = 0x8180;  // QR, RD, RA, NOERROR
constexpr std::uint16_t kQname = 12;     // offset of the question name

}  // namespace

TEST_CASE("build_query encodes a recursive A query byte for byte", "[egress][dns]") {
  const std::string q = build_query(0x1234, "www.Example.com", kQtypeA);
  const std::string expected = bytes({0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 3, 'w', 'w', 'w', 7, 'E', 'x', 'a', 'm', 'p',
                                      'l', 'e', 3, 'c', 'o', 'm', 0, 0x00, 0x01, 0x00, 0x01});
  CHECK(q == expected);
}

TEST_CASE("build_query encodes AAAA and drops one trailing dot", "[egress][dns]") {
  const std::string q = build_query(0xbeef, "a.b.", kQtypeAaaa);
  const std::string expected = bytes({0xbe, 0xef, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 1, 'a', 1, 'b', 0, 0x00, 0x1c, 0x00, 0x01});
  CHECK(q == expected);
  CHECK(build_query(0xbeef, "a.b", kQtypeAaaa) == expected);
}

TEST_CASE("build_query refuses invalid names and types", "[egress][dns]") {
  const std::string label63(63, 'a');
  const std::string label64(64, 'a');
  // 4 * 63 + 3 dots = 255 > 253; trim to exactly 253.
  std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  REQUIRE(name253.size() == 253);
  CHECK_FALSE(build_query(1, name253, kQtypeA).empty());
  CHECK_FALSE(build_query(1, name253 + ".", kQtypeA).empty());
  CHECK(build_query(1, name253 + "b", kQtypeA).empty());
  CHECK_FALSE(build_query(1, label63 + ".com", kQtypeA).empty());
  CHECK(build_query(1, label64 + ".com", kQtypeA).empty());

  for (const char* bad : {"", ".", "..", "a..b", ".a", "a.b..", "-a.com", "a-.com", "a_b.com",
                          "a b.com", "*.example.com", "a/b", "exa\xc3\xa9mple.com"}) {
    INFO(bad);
    CHECK_FALSE(valid_query_name(bad));
    CHECK(build_query(1, bad, kQtypeA).empty());
  }
  CHECK(build_query(1, std::string_view("a\0b", 3), kQtypeA).empty());
  CHECK(valid_query_name("xn--bcher-kva.example"));
  CHECK(valid_query_name("localhost"));
  CHECK(build_query(1, "example.com", 15).empty());  // MX is not ours
  CHECK(build_query(1, "example.com", kQtypeCname).empty());
}

TEST_CASE("parse_response reads compressed A records", "[egress][dns]") {
  const std::string msg = header(0x1234, kResp, 2) + question("www.example.com", kQtypeA) +
                          rr(ptr(kQname), kQtypeA, 300, bytes({93, 184, 216, 34})) +
                          rr(ptr(kQname), kQtypeA, 60, bytes({93, 184, 216, 35}));
  const auto a = parse_response(msg, 0x1234, "www.example.com", kQtypeA);
  REQUIRE(a);
  CHECK(a->rcode == 0);
  CHECK(a->addresses == std::vector<std::string>{"93.184.216.34", "93.184.216.35"});
  CHECK(a->min_ttl == 60);

  // The query we built, turned into a response, parses too.
  std::string from_query = build_query(0x4242, "www.example.com", kQtypeA);
  from_query[2] = static_cast<char>(0x81);
  from_query[3] = static_cast<char>(0x80);
  from_query[7] = 1;  // ANCOUNT = 1
  from_query += rr(ptr(kQname), kQtypeA, 5, bytes({1, 2, 3, 4}));
  const auto b = parse_response(from_query, 0x4242, "www.example.com.", kQtypeA);
  REQUIRE(b);
  CHECK(b->addresses == std::vector<std::string>{"1.2.3.4"});
  CHECK(b->min_ttl == 5);
}

TEST_CASE("parse_response reads AAAA records in RFC 5952 form", "[egress][dns]") {
  const std::string msg =
      header(7, kResp, 3) + question("v6.example", kQtypeAaaa) +
      rr(ptr(kQname), kQtypeAaaa, 100,
         bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})) +
      rr(ptr(kQname), kQtypeA, 100, bytes({1, 2, 3, 4})) +  // other type: ignored
      rr(ptr(kQname), kQtypeAaaa, 100,
         bytes({0x26, 0x06, 0x47, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x68, 0x10, 0x84, 0xe5}));
  const auto a = parse_response(msg, 7, "V6.EXAMPLE", kQtypeAaaa);
  REQUIRE(a);
  CHECK(a->addresses == std::vector<std::string>{"2001:db8::1", "2606:4700::6810:84e5"});
}

TEST_CASE("parse_response follows a CNAME chain from the queried name", "[egress][dns]") {
  // www.example.com CNAME cdn.example.net; cdn.example.net CNAME edge.cdn.example.net;
  // edge.cdn.example.net A 198.51.100.7; plus an A for an unrelated owner.
  std::string msg = header(9, kResp, 4) + question("www.example.com", kQtypeA);
  const std::string cdn_target = wname("cdn.example.net");
  msg += rr(ptr(kQname), kQtypeCname, 600, cdn_target);
  // Offset of the target: the rr's rdata starts after name(2)+type/class/ttl/len(10).
  const auto cdn_offset = static_cast<std::uint16_t>(msg.size() - cdn_target.size());
  const std::string edge_target = bytes({4, 'e', 'd', 'g', 'e'}) + ptr(cdn_offset);
  msg += rr(ptr(cdn_offset), kQtypeCname, 120, edge_target);
  const auto edge_offset = static_cast<std::uint16_t>(msg.size() - edge_target.size());
  msg += rr(wname("evil.example.org"), kQtypeA, 1, bytes({10, 0, 0, 1}));
  msg += rr(ptr(edge_offset), kQtypeA, 300, bytes({198, 51, 100, 7}));

  const auto a = parse_response(msg, 9, "www.example.com", kQtypeA);
  REQUIRE(a);
  CHECK(a->addresses == std::vector<std::string>{"198.51.100.7"});
  CHECK(a->min_ttl == 120);
}

TEST_CASE("parse_response ignores CNAMEs and addresses not reached from the name",
          "[egress][dns]") {
  // other.example CNAME x.example; x.example A 10.0.0.1: nothing starts at www.example.
  const std::string msg = header(3, kResp, 2) + question("www.example", kQtypeA) +
                          rr(wname("other.example"), kQtypeCname, 60, wname("x.example")) +
                          rr(wname("x.example"), kQtypeA, 60, bytes({10, 0, 0, 1}));
  const auto a = parse_response(msg, 3, "www.example", kQtypeA);
  REQUIRE(a);
  CHECK(a->rcode == 0);
  CHECK(a->addresses.empty());
  CHECK(a->min_ttl == 0);
}

TEST_CASE("parse_response survives CNAME loops and bounds chain length", "[egress][dns]") {
  SECTION("loop") {
    const std::string msg = header(3, kResp, 2) + question("a.example", kQtypeA) +
                            rr(wname("a.example"), kQtypeCname, 60, wname("b.example")) +
                            rr(wname("b.example"), kQtypeCname, 60, wname("a.example"));
    const auto a = parse_response(msg, 3, "a.example", kQtypeA);
    REQUIRE(a);
    CHECK(a->addresses.empty());
  }
  SECTION("chain exactly at the limit resolves, one longer does not") {
    for (int hops : {kMaxCnameHops, kMaxCnameHops + 1}) {
      std::string body;
      for (int i = 0; i < hops; ++i) {
        body += rr(wname("h" + std::to_string(i) + ".example"), kQtypeCname, 60,
                   wname("h" + std::to_string(i + 1) + ".example"));
      }
      body += rr(wname("h" + std::to_string(hops) + ".example"), kQtypeA, 60,
                 bytes({8, 8, 8, 8}));
      const std::string msg = header(3, kResp, static_cast<std::uint16_t>(hops + 1)) +
                              question("h0.example", kQtypeA) + body;
      const auto a = parse_response(msg, 3, "h0.example", kQtypeA);
      REQUIRE(a);
      INFO(hops);
      CHECK(a->addresses.size() == (hops == kMaxCnameHops ? 1u : 0u));
    }
  }
}

TEST_CASE("parse_response rejects mismatched headers and questions", "[egress][dns]") {
  const std::string answer = rr(ptr(kQname), kQtypeA, 60, bytes({1, 1, 1, 1}));
  const std::string good = header(5, kResp, 1) + question("x.example", kQtypeA) + answer;
  REQUIRE(parse_response(good, 5, "x.example", kQtypeA));

  CHECK_FALSE(parse_response(good, 6, "x.example", kQtypeA));           // wrong id
  CHECK_FALSE(parse_response(good, 5, "y.example", kQtypeA));           // other name
  CHECK_FALSE(parse_response(good, 5, "x.example.com", kQtypeA));       // other name
  CHECK_FALSE(parse_response(good, 5, "x.example", kQtypeAaaa));        // other type
  CHECK_FALSE(parse_response(good, 5, "bad_name.example", kQtypeA));    // invalid expectation
  CHECK_FALSE(parse_response(header(5, 0x0100, 1) + question("x.example", kQtypeA) + answer, 5,
                             "x.example", kQtypeA));  // QR clear: a query, not a response
  CHECK_FALSE(parse_response(header(5, kResp | 0x0800, 1) + question("x.example", kQtypeA) +
                                 answer, 5, "x.example", kQtypeA));  // opcode IQUERY
  CHECK_FALSE(parse_response(header(5, kResp, 1, 0) + answer, 5, "x.example", kQtypeA));
  CHECK_FALSE(parse_response(header(5, kResp, 1, 2) + question("x.example", kQtypeA) +
                                 question("x.example", kQtypeA) + answer,
                             5, "x.example", kQtypeA));
  // Class CH in the question.
  CHECK_FALSE(parse_response(header(5, kResp, 1) + wname("x.example") + u16(kQtypeA) + u16(3) +
                                 answer, 5, "x.example", kQtypeA));
  CHECK_FALSE(parse_response(good.substr(0, 11), 5, "x.example", kQtypeA));
  CHECK_FALSE(parse_response("", 5, "x.example", kQtypeA));
}

TEST_CASE("parse_response rejects truncated responses", "[egress][dns]") {
  const std::string answer = rr(ptr(kQname), kQtypeA, 60, bytes({1, 1, 1, 1}));
  const std::string tc = header(5, kResp | 0x0200, 1) + question("x.example", kQtypeA) + answer;
  CHECK_FALSE(parse_response(tc, 5, "x.example", kQtypeA));

  const std::string good = header(5, kResp, 1) + question("x.example", kQtypeA) + answer;
  for (std::size_t n = 0; n < good.size(); ++n) {
    INFO(n);
    CHECK_FALSE(parse_response(good.substr(0, n), 5, "x.example", kQtypeA));
  }
  // Claims two answers, carries one.
  std::string short_count = good;
  short_count[7] = 2;
  CHECK_FALSE(parse_response(short_count, 5, "x.example", kQtypeA));
}

TEST_CASE("parse_response reports error rcodes with no addresses", "[egress][dns]") {
  const std::string nx = header(5, 0x8183, 0) + question("nope.example", kQtypeA);
  const auto a = parse_response(nx, 5, "nope.example", kQtypeA);
  REQUIRE(a);
  CHECK(a->rcode == 3);
  CHECK(a->addresses.empty());
  // SERVFAIL with a (bogus) answer still yields nothing.
  const std::string sf = header(5, 0x8182, 1) + question("x.example", kQtypeA) +
                         rr(ptr(kQname), kQtypeA, 60, bytes({1, 1, 1, 1}));
  const auto b = parse_response(sf, 5, "x.example", kQtypeA);
  REQUIRE(b);
  CHECK(b->rcode == 2);
  CHECK(b->addresses.empty());
}

TEST_CASE("parse_response refuses compression loops and bad pointers", "[egress][dns]") {
  const std::string q = header(5, kResp, 1) + question("x.example", kQtypeA);
  const auto self = static_cast<std::uint16_t>(q.size());
  const auto tail = u16(kQtypeA) + u16(1) + u32(60) + u16(4) + bytes({1, 1, 1, 1});

  // Pointer to itself.
  CHECK_FALSE(parse_response(q + ptr(self) + tail, 5, "x.example", kQtypeA));
  // Pointer forwards (past itself).
  CHECK_FALSE(parse_response(q + ptr(self + 4) + tail, 5, "x.example", kQtypeA));
  // Pointer beyond the message.
  CHECK_FALSE(parse_response(q + ptr(0x3fff) + tail, 5, "x.example", kQtypeA));
  // Label then a pointer back to that label: a loop that only ever points backwards.
  CHECK_FALSE(parse_response(q + bytes({1, 'a'}) + ptr(self) + tail, 5, "x.example", kQtypeA));
  // Pointer cut in half at the end of the message.
  CHECK_FALSE(parse_response(q + bytes({0xC0}), 5, "x.example", kQtypeA));
  // Extended label types 0x40 and 0x80.
  CHECK_FALSE(parse_response(q + bytes({0x41, 'a', 0}) + tail, 5, "x.example", kQtypeA));
  CHECK_FALSE(parse_response(q + bytes({0x81, 'a', 0}) + tail, 5, "x.example", kQtypeA));
  // A chain of pointers each pointing at the previous one (all backwards, no loop) is followed
  // up to kMaxPointerJumps and refused beyond. The chain sits in the rdata of a TXT record.
  for (int links : {kMaxPointerJumps - 1, kMaxPointerJumps + 8}) {
    std::string msg = header(5, kResp, 2) + question("x.example", kQtypeA);
    const auto owner = static_cast<std::uint16_t>(msg.size());
    msg += wname("x.example") + u16(16) + u16(1) + u32(60) +
           u16(static_cast<std::uint16_t>(2 * links));
    auto prev = owner;
    for (int i = 0; i < links; ++i) {
      const auto here = static_cast<std::uint16_t>(msg.size());
      msg += ptr(prev);
      prev = here;
    }
    msg += ptr(prev) + tail;
    INFO(links);
    const auto a = parse_response(msg, 5, "x.example", kQtypeA);
    if (links < kMaxPointerJumps) {
      REQUIRE(a);
      CHECK(a->addresses == std::vector<std::string>{"1.1.1.1"});
    } else {
      CHECK_FALSE(a);
    }
  }
}

TEST_CASE("parse_response refuses decoded names over 255 octets", "[egress][dns]") {
  // Owner = 63-byte label + pointer to a 63+63+63-byte name: 4*64 + 1 > 255.
  const std::string l63(63, 'a');
  const std::string long_name = l63 + "." + l63 + "." + l63;
  std::string msg = header(5, kResp, 2) + question("x.example", kQtypeA);
  const auto base = static_cast<std::uint16_t>(msg.size());
  msg += rr(wname(long_name), 16, 60, bytes({1, 'x'}));  // TXT owned by the long name: fine
  msg += rr(bytes({63}) + l63 + ptr(base), kQtypeA, 60, bytes({1, 1, 1, 1}));
  CHECK_FALSE(parse_response(msg, 5, "x.example", kQtypeA));
  msg[7] = 1;  // only the first record: accepted
  CHECK(parse_response(msg.substr(0, base + wname(long_name).size() + 12), 5, "x.example",
                       kQtypeA));
}

TEST_CASE("parse_response checks rdata shapes and classes", "[egress][dns]") {
  const std::string q = header(5, kResp, 1) + question("x.example", kQtypeA);
  // A with 5 bytes of rdata.
  CHECK_FALSE(parse_response(q + rr(ptr(kQname), kQtypeA, 60, bytes({1, 2, 3, 4, 5})), 5,
                             "x.example", kQtypeA));
  // rdlength past the end.
  CHECK_FALSE(parse_response(q + ptr(kQname) + u16(kQtypeA) + u16(1) + u32(1) + u16(8) +
                                 bytes({1, 2, 3, 4}),
                             5, "x.example", kQtypeA));
  // CNAME whose target does not fill its rdata exactly.
  CHECK_FALSE(parse_response(q + rr(ptr(kQname), kQtypeCname, 60, wname("y.example") + "zz"), 5,
                             "x.example", kQtypeA));
  // Class CH record is skipped, not used.
  const auto a =
      parse_response(q + rr(ptr(kQname), kQtypeA, 60, bytes({1, 2, 3, 4, 5, 6}), 3), 5,
                     "x.example", kQtypeA);
  REQUIRE(a);
  CHECK(a->addresses.empty());
}

TEST_CASE("parse_response clamps TTLs and removes duplicates", "[egress][dns]") {
  const std::string msg = header(5, kResp, 3) + question("x.example", kQtypeA) +
                          rr(ptr(kQname), kQtypeA, 0x80000000u, bytes({1, 1, 1, 1})) +
                          rr(ptr(kQname), kQtypeA, 30, bytes({1, 1, 1, 1})) +
                          rr(ptr(kQname), kQtypeA, 30, bytes({2, 2, 2, 2}));
  const auto a = parse_response(msg, 5, "x.example", kQtypeA);
  REQUIRE(a);
  CHECK(a->addresses == std::vector<std::string>{"1.1.1.1", "2.2.2.2"});
  CHECK(a->min_ttl == 0);
}

TEST_CASE("format_ipv6 follows RFC 5952", "[egress][dns]") {
  auto fmt = [](std::initializer_list<int> groups) {
    unsigned char b[16] = {};
    int i = 0;
    for (int g : groups) {
      b[i++] = static_cast<unsigned char>(g >> 8);
      b[i++] = static_cast<unsigned char>(g & 0xff);
    }
    return format_ipv6(b);
  };
  CHECK(fmt({0, 0, 0, 0, 0, 0, 0, 0}) == "::");
  CHECK(fmt({0, 0, 0, 0, 0, 0, 0, 1}) == "::1");
  CHECK(fmt({1, 0, 0, 0, 0, 0, 0, 0}) == "1::");
  CHECK(fmt({0x2001, 0xdb8, 0, 1, 1, 1, 1, 1}) == "2001:db8:0:1:1:1:1:1");
  CHECK(fmt({0x2001, 0, 0, 1, 0, 0, 0, 1}) == "2001:0:0:1::1");
  CHECK(fmt({0x2001, 0xdb8, 0, 0, 1, 0, 0, 1}) == "2001:db8::1:0:0:1");
  CHECK(fmt({0xFE80, 0, 0, 0, 0xABCD, 0x12, 0x3, 0x4000}) == "fe80::abcd:12:3:4000");
  CHECK(fmt({0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001}) == "::ffff:10.0.0.1");
}

TEST_CASE("parsed addresses classify consistently", "[egress][dns]") {
  using portcullis::gateway::egress::AddressClass;
  using portcullis::gateway::egress::classify;
  const std::string msg =
      header(5, kResp, 2) + question("x.example", kQtypeAaaa) +
      rr(ptr(kQname), kQtypeAaaa, 60,
         bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 169, 254, 169, 254})) +
      rr(ptr(kQname), kQtypeAaaa, 60, bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
  const auto a = parse_response(msg, 5, "x.example", kQtypeAaaa);
  REQUIRE(a);
  REQUIRE(a->addresses.size() == 2);
  CHECK(a->addresses[0] == "::ffff:169.254.169.254");
  CHECK(classify(a->addresses[0]) == AddressClass::link_local);
  CHECK(classify(a->addresses[1]) == AddressClass::loopback);
}
