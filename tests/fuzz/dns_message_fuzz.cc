// Fuzz target: gateway::egress DNS codec. The input is a DNS response; the expected id is taken
// from its own first two bytes (so mutations get past the id check) and the expected question is
// www.example.com, tried as both A and AAAA (the seeds under corpus/dns_message/ ask for it).
// Checks: parse_response never reads out of bounds or loops (ASan / timeouts), and its result is
// coherent: error rcodes carry no addresses, addresses are unique, bounded and in the text form
// of the requested type, min_ttl is 0 without addresses and never has the top bit set.
// The same bytes are also offered to build_query as a name: whatever it accepts must round-trip
// through parse_response once turned into an empty NOERROR response.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/egress/dns_message.h"
#include "tests/fuzz/fuzz_check.h"

namespace egress = portcullis::gateway::egress;

namespace {

constexpr std::string_view kName = "www.example.com";

void check_answer(const egress::DnsAnswer& a, std::uint16_t qtype) {
  FUZZ_CHECK(a.rcode < 16);
  FUZZ_CHECK(a.addresses.size() <= egress::kMaxAddresses);
  FUZZ_CHECK(a.min_ttl <= 0x7fffffffu);
  if (a.rcode != egress::kRcodeNoError || a.addresses.empty()) {
    FUZZ_CHECK(a.addresses.empty());
    FUZZ_CHECK(a.min_ttl == 0);
  }
  for (std::size_t i = 0; i < a.addresses.size(); ++i) {
    const std::string& s = a.addresses[i];
    if (qtype == egress::kQtypeA) {
      FUZZ_CHECK(std::count(s.begin(), s.end(), '.') == 3);
      FUZZ_CHECK(s.size() >= 7 && s.size() <= 15);
    } else {
      FUZZ_CHECK(s.find(':') != std::string::npos);
      FUZZ_CHECK(s.size() >= 2 && s.size() <= 39);
    }
    for (std::size_t j = 0; j < i; ++j) {
      FUZZ_CHECK(a.addresses[j] != s);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view msg(reinterpret_cast<const char*>(data), size);
  const std::uint16_t id =
      size >= 2 ? static_cast<std::uint16_t>((data[0] << 8) | data[1]) : std::uint16_t{0};

  for (std::uint16_t qtype : {egress::kQtypeA, egress::kQtypeAaaa}) {
    if (const auto a = egress::parse_response(msg, id, kName, qtype)) {
      check_answer(*a, qtype);
      // The same message never matches a different id or name.
      FUZZ_CHECK(!egress::parse_response(msg, static_cast<std::uint16_t>(id + 1), kName, qtype));
      FUZZ_CHECK(!egress::parse_response(msg, id, "www.example.org", qtype));
    }
  }

  // Bytes as a query name.
  const std::string query = egress::build_query(id, msg, egress::kQtypeA);
  FUZZ_CHECK(query.empty() != egress::valid_query_name(msg));
  if (!query.empty()) {
    FUZZ_CHECK(query.size() <= 12 + 255 + 4);
    // A query is not a response...
    FUZZ_CHECK(!egress::parse_response(query, id, msg, egress::kQtypeA));
    // ...but with QR set it is an empty NOERROR answer to itself.
    std::string response = query;
    response[2] = static_cast<char>(response[2] | 0x80);
    const auto a = egress::parse_response(response, id, msg, egress::kQtypeA);
    FUZZ_CHECK(a.has_value());
    FUZZ_CHECK(a->rcode == 0 && a->addresses.empty() && a->min_ttl == 0);
    FUZZ_CHECK(!egress::parse_response(response, id, msg, egress::kQtypeAaaa));
  }
  return 0;
}
