#include "gateway/egress/address_class.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace {

using portcullis::gateway::egress::AddressClass;
using portcullis::gateway::egress::classify;
using portcullis::gateway::egress::refused_by_default;
using portcullis::gateway::egress::to_string;

void check_all(const std::vector<std::pair<const char*, AddressClass>>& cases) {
  for (const auto& [text, want] : cases) {
    INFO(text);
    CHECK(to_string(classify(text)) == to_string(want));
  }
}

}  // namespace

TEST_CASE("IPv4 special-purpose ranges", "[egress][address]") {
  check_all({
      {"0.0.0.0", AddressClass::unspecified},
      {"0.1.2.3", AddressClass::unspecified},
      {"0.255.255.255", AddressClass::unspecified},
      {"1.0.0.0", AddressClass::public_unicast},
      {"127.0.0.1", AddressClass::loopback},
      {"127.255.255.254", AddressClass::loopback},
      {"126.255.255.255", AddressClass::public_unicast},
      {"128.0.0.0", AddressClass::public_unicast},
      {"169.254.169.254", AddressClass::link_local},
      {"169.254.0.0", AddressClass::link_local},
      {"169.253.255.255", AddressClass::public_unicast},
      {"169.255.0.0", AddressClass::public_unicast},
      {"10.0.0.0", AddressClass::private_range},
      {"10.255.255.255", AddressClass::private_range},
      {"11.0.0.0", AddressClass::public_unicast},
      {"9.255.255.255", AddressClass::public_unicast},
      {"172.16.0.0", AddressClass::private_range},
      {"172.31.255.255", AddressClass::private_range},
      {"172.15.255.255", AddressClass::public_unicast},
      {"172.32.0.0", AddressClass::public_unicast},
      {"192.168.0.1", AddressClass::private_range},
      {"192.168.255.255", AddressClass::private_range},
      {"192.169.0.0", AddressClass::public_unicast},
      {"192.167.255.255", AddressClass::public_unicast},
      {"100.64.0.0", AddressClass::cgnat},
      {"100.127.255.255", AddressClass::cgnat},
      {"100.63.255.255", AddressClass::public_unicast},
      {"100.128.0.0", AddressClass::public_unicast},
      {"192.0.0.0", AddressClass::reserved},
      {"192.0.0.255", AddressClass::reserved},
      {"192.0.1.0", AddressClass::public_unicast},
      {"192.0.2.1", AddressClass::reserved},
      {"192.0.3.0", AddressClass::public_unicast},
      {"198.51.100.20", AddressClass::reserved},
      {"198.51.101.0", AddressClass::public_unicast},
      {"203.0.113.9", AddressClass::reserved},
      {"203.0.114.0", AddressClass::public_unicast},
      {"198.18.0.0", AddressClass::reserved},
      {"198.19.255.255", AddressClass::reserved},
      {"198.17.255.255", AddressClass::public_unicast},
      {"198.20.0.0", AddressClass::public_unicast},
      {"192.88.99.1", AddressClass::reserved},
      {"224.0.0.1", AddressClass::multicast},
      {"239.255.255.255", AddressClass::multicast},
      {"223.255.255.255", AddressClass::public_unicast},
      {"240.0.0.0", AddressClass::reserved},
      {"255.255.255.254", AddressClass::reserved},
      {"255.255.255.255", AddressClass::broadcast},
      {"8.8.8.8", AddressClass::public_unicast},
      {"93.184.216.34", AddressClass::public_unicast},
  });
}

TEST_CASE("IPv4 text must be a canonical dotted quad", "[egress][address]") {
  for (const char* bad :
       {"", "1", "127.1", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.256", "010.0.0.1",
        "127.0.0.01", "0x7f.0.0.1", "2130706433", "1.2.3.4 ", " 1.2.3.4", "1..2.3", "1.2.3.",
        ".1.2.3", "1.2.3.4/8", "1.2.3.-4", "1.2.3.1000", "localhost", "[1.2.3.4", "1.2.3.4%eth0"}) {
    INFO(bad);
    CHECK(classify(bad) == AddressClass::invalid);
  }
  CHECK(classify("[8.8.8.8]") == AddressClass::public_unicast);
}

TEST_CASE("IPv6 special-purpose ranges", "[egress][address]") {
  check_all({
      {"::", AddressClass::unspecified},
      {"::1", AddressClass::loopback},
      {"0:0:0:0:0:0:0:1", AddressClass::loopback},
      {"[::1]", AddressClass::loopback},
      {"fe80::1", AddressClass::link_local},
      {"fe80::1%eth0", AddressClass::link_local},
      {"febf:ffff::1", AddressClass::link_local},
      {"fec0::1", AddressClass::private_range},
      {"fc00::1", AddressClass::unique_local},
      {"fd12:3456:789a::1", AddressClass::unique_local},
      {"FDFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF", AddressClass::unique_local},
      {"ff02::1", AddressClass::multicast},
      {"ff0e::101", AddressClass::multicast},
      {"2001:db8::1", AddressClass::reserved},
      {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", AddressClass::reserved},
      {"2001:db9::1", AddressClass::public_unicast},
      {"3fff::1", AddressClass::reserved},
      {"3fff:fff::1", AddressClass::reserved},
      {"3fff:1000::1", AddressClass::public_unicast},
      {"2001::1", AddressClass::reserved},         // Teredo
      {"2001:1ff:ffff::1", AddressClass::reserved},  // end of 2001::/23
      {"2001:200::1", AddressClass::public_unicast},
      {"100::1", AddressClass::reserved},
      {"100:0:0:1::1", AddressClass::reserved},  // not 100::/64, but outside 2000::/3
      {"64:ff9b:1::1", AddressClass::reserved},
      {"4000::1", AddressClass::reserved},
      {"1fff:ffff::1", AddressClass::reserved},
      {"2606:4700::6810:84e5", AddressClass::public_unicast},
      {"2a00:1450:4001:82a::200e", AddressClass::public_unicast},
      {"3ffe::1", AddressClass::public_unicast},
  });
}

TEST_CASE("IPv6 forms carrying IPv4 are classified by the embedded address",
          "[egress][address]") {
  check_all({
      // IPv4-mapped, dotted and hex spellings
      {"::ffff:127.0.0.1", AddressClass::loopback},
      {"::ffff:7f00:1", AddressClass::loopback},
      {"::FFFF:10.1.2.3", AddressClass::private_range},
      {"0:0:0:0:0:ffff:192.168.1.1", AddressClass::private_range},
      {"::ffff:169.254.169.254", AddressClass::link_local},
      {"::ffff:a9fe:a9fe", AddressClass::link_local},
      {"::ffff:0.0.0.0", AddressClass::unspecified},
      {"::ffff:100.64.0.1", AddressClass::cgnat},
      {"::ffff:224.0.0.1", AddressClass::multicast},
      {"::ffff:255.255.255.255", AddressClass::broadcast},
      {"::ffff:192.0.2.1", AddressClass::reserved},
      {"::ffff:8.8.8.8", AddressClass::public_unicast},
      // IPv4-translated ::ffff:0:0/96
      {"::ffff:0:10.0.0.1", AddressClass::private_range},
      {"::ffff:0:8.8.8.8", AddressClass::public_unicast},
      // IPv4-compatible (deprecated)
      {"::127.0.0.1", AddressClass::loopback},
      {"::10.0.0.1", AddressClass::private_range},
      {"::a00:1", AddressClass::private_range},
      {"::8.8.8.8", AddressClass::public_unicast},
      // NAT64 well-known prefix
      {"64:ff9b::127.0.0.1", AddressClass::loopback},
      {"64:ff9b::a9fe:a9fe", AddressClass::link_local},
      {"64:ff9b::192.168.0.1", AddressClass::private_range},
      {"64:ff9b::8.8.8.8", AddressClass::public_unicast},
      // 6to4: the v4 address sits in bits 16..47
      {"2002:7f00:1::", AddressClass::loopback},
      {"2002:a00:1::1", AddressClass::private_range},
      {"2002:a9fe:a9fe::", AddressClass::link_local},
      {"2002:c0a8:101::1", AddressClass::private_range},
      {"2002:808:808::1", AddressClass::public_unicast},
  });
}

TEST_CASE("IPv6 text must be well-formed", "[egress][address]") {
  for (const char* bad :
       {":", ":::", "::1::", "1::2::3", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7:8", "12345::", "g::1", ":1::", "1::2:", "::ffff:1.2.3", "::ffff:1.2.3.4.5",
        "::1.2.3.4:5", "1.2.3.4::", "::ffff:01.2.3.4", "fe80::1%", "[::1", "::1]", "[]",
        "1:2:3:4:5:6:7:1.2.3.4", "::ffff:256.1.1.1", "::1 ", "fe80::-1",
        "0000000000000000000000000000000000000000000000::1"}) {
    INFO(bad);
    CHECK(classify(bad) == AddressClass::invalid);
  }
  CHECK(classify("1:2:3:4:5:6:1.2.3.4") == AddressClass::reserved);  // 1::/16 outside 2000::/3
  CHECK(classify("1:2:3:4:5:6:7::") == AddressClass::reserved);
  CHECK(classify("2001:4860:4860:0000:0000:0000:0000:8888") == AddressClass::public_unicast);
  CHECK(classify("2001:4860:4860::8888") == AddressClass::public_unicast);
}

TEST_CASE("only public unicast is allowed by default", "[egress][address]") {
  const AddressClass all[] = {
      AddressClass::public_unicast, AddressClass::loopback,      AddressClass::link_local,
      AddressClass::private_range,  AddressClass::unique_local,  AddressClass::unspecified,
      AddressClass::multicast,      AddressClass::broadcast,     AddressClass::reserved,
      AddressClass::cgnat,          AddressClass::invalid,
  };
  std::vector<std::string> names;
  for (AddressClass c : all) {
    INFO(to_string(c));
    CHECK(refused_by_default(c) == (c != AddressClass::public_unicast));
    CHECK_FALSE(to_string(c).empty());
    names.emplace_back(to_string(c));
  }
  std::sort(names.begin(), names.end());
  CHECK(std::unique(names.begin(), names.end()) == names.end());
  CHECK(to_string(AddressClass::link_local) == "link_local");
  CHECK(refused_by_default(classify("169.254.169.254")));
  CHECK(refused_by_default(classify("::ffff:169.254.169.254")));
  CHECK_FALSE(refused_by_default(classify("1.1.1.1")));
}
