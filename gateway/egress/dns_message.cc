#include "gateway/egress/dns_message.h"

#include <algorithm>
#include <cstddef>

namespace portcullis::gateway::egress {

namespace {

constexpr std::size_t kHeaderSize = 12;
constexpr std::size_t kMaxWireName = 255;  // RFC 1035 2.3.4, including length octets and root
constexpr std::size_t kMaxLabel = 63;
constexpr std::size_t kMaxTextName = 253;
constexpr std::uint16_t kClassIn = 1;
constexpr std::uint16_t kFlagQr = 0x8000;
constexpr std::uint16_t kFlagTc = 0x0200;
constexpr std::uint16_t kFlagRd = 0x0100;

bool is_ldh(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string_view strip_trailing_dot(std::string_view name) noexcept {
  if (!name.empty() && name.back() == '.') {
    name.remove_suffix(1);
  }
  return name;
}

// Encodes a validated text name as wire labels ending in the root label; lower-cased when
// `fold` (the canonical form used for comparisons).
std::string to_wire(std::string_view name, bool fold) {
  name = strip_trailing_dot(name);
  std::string out;
  out.reserve(name.size() + 2);
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) {
      dot = name.size();
    }
    std::string_view label = name.substr(start, dot - start);
    out.push_back(static_cast<char>(label.size()));
    for (char c : label) {
      out.push_back(fold ? lower(c) : c);
    }
    start = dot + 1;
  }
  out.push_back('\0');
  return out;
}

std::uint16_t read16(std::string_view msg, std::size_t pos) noexcept {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(msg[pos]) << 8) |
                                    static_cast<unsigned char>(msg[pos + 1]));
}

std::uint32_t read32(std::string_view msg, std::size_t pos) noexcept {
  return (static_cast<std::uint32_t>(read16(msg, pos)) << 16) | read16(msg, pos + 2);
}

void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

// Reads a (possibly compressed) name starting at `pos`. On success `wire` holds the
// lower-cased, uncompressed wire form and `next` the offset just after the name as it sits at
// `pos`. Pointers must point strictly before themselves and are followed at most
// kMaxPointerJumps times; the result is at most kMaxWireName octets.
bool read_name(std::string_view msg, std::size_t pos, std::string& wire, std::size_t& next) {
  wire.clear();
  std::size_t p = pos;
  bool jumped = false;
  int jumps = 0;
  while (true) {
    if (p >= msg.size()) {
      return false;
    }
    const auto len = static_cast<unsigned char>(msg[p]);
    if ((len & 0xC0) == 0xC0) {
      if (p + 1 >= msg.size()) {
        return false;
      }
      const std::size_t target = (static_cast<std::size_t>(len & 0x3F) << 8) |
                                 static_cast<unsigned char>(msg[p + 1]);
      if (!jumped) {
        next = p + 2;
        jumped = true;
      }
      if (target >= p || ++jumps > kMaxPointerJumps) {
        return false;
      }
      p = target;
      continue;
    }
    if ((len & 0xC0) != 0) {
      return false;  // 0x40 / 0x80: extended or reserved label types
    }
    if (len == 0) {
      wire.push_back('\0');
      if (!jumped) {
        next = p + 1;
      }
      return wire.size() <= kMaxWireName;
    }
    if (p + 1 + len > msg.size() || wire.size() + 1 + len + 1 > kMaxWireName) {
      return false;
    }
    wire.push_back(static_cast<char>(len));
    for (std::size_t i = 0; i < len; ++i) {
      wire.push_back(lower(msg[p + 1 + i]));
    }
    p += 1 + len;
  }
}

struct Record {
  std::string owner;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::string data;  // CNAME: target in canonical wire form; A/AAAA: the raw address bytes
};

}  // namespace

bool valid_query_name(std::string_view name) {
  name = strip_trailing_dot(name);
  if (name.empty() || name.size() > kMaxTextName) {
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) {
      dot = name.size();
    }
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty() || label.size() > kMaxLabel || label.front() == '-' ||
        label.back() == '-') {
      return false;
    }
    if (!std::all_of(label.begin(), label.end(), is_ldh)) {
      return false;
    }
    start = dot + 1;
  }
  return true;
}

std::string build_query(std::uint16_t id, std::string_view name, std::uint16_t qtype) {
  if ((qtype != kQtypeA && qtype != kQtypeAaaa) || !valid_query_name(name)) {
    return {};
  }
  std::string out;
  out.reserve(kHeaderSize + name.size() + 6);
  put16(out, id);
  put16(out, kFlagRd);
  put16(out, 1);  // QDCOUNT
  put16(out, 0);  // ANCOUNT
  put16(out, 0);  // NSCOUNT
  put16(out, 0);  // ARCOUNT
  out += to_wire(name, false);
  put16(out, qtype);
  put16(out, kClassIn);
  return out;
}

std::optional<DnsAnswer> parse_response(std::string_view msg, std::uint16_t expected_id,
                                        std::string_view expected_name, std::uint16_t qtype) {
  if ((qtype != kQtypeA && qtype != kQtypeAaaa) || !valid_query_name(expected_name)) {
    return std::nullopt;
  }
  if (msg.size() < kHeaderSize) {
    return std::nullopt;
  }
  const std::uint16_t id = read16(msg, 0);
  const std::uint16_t flags = read16(msg, 2);
  const std::uint16_t qdcount = read16(msg, 4);
  const std::uint16_t ancount = read16(msg, 6);
  const unsigned opcode = (flags >> 11) & 0xF;
  if (id != expected_id || (flags & kFlagQr) == 0 || opcode != 0 || (flags & kFlagTc) != 0 ||
      qdcount != 1) {
    return std::nullopt;
  }

  // The question must echo ours.
  const std::string qname = to_wire(expected_name, true);
  std::string wire;
  std::size_t pos = kHeaderSize;
  if (!read_name(msg, pos, wire, pos) || wire != qname || pos + 4 > msg.size()) {
    return std::nullopt;
  }
  if (read16(msg, pos) != qtype || read16(msg, pos + 2) != kClassIn) {
    return std::nullopt;
  }
  pos += 4;

  DnsAnswer answer;
  answer.rcode = static_cast<std::uint16_t>(flags & 0xF);
  if (answer.rcode != kRcodeNoError) {
    return answer;
  }

  // Answer section: keep CNAME and requested-type IN records; authority and additional
  // sections are never looked at.
  std::vector<Record> records;
  for (unsigned i = 0; i < ancount; ++i) {
    Record rec;
    if (!read_name(msg, pos, rec.owner, pos) || pos + 10 > msg.size()) {
      return std::nullopt;
    }
    rec.type = read16(msg, pos);
    const std::uint16_t rclass = read16(msg, pos + 2);
    rec.ttl = read32(msg, pos + 4);
    if (rec.ttl & 0x80000000u) {
      rec.ttl = 0;
    }
    const std::uint16_t rdlength = read16(msg, pos + 8);
    pos += 10;
    if (pos + rdlength > msg.size()) {
      return std::nullopt;
    }
    const std::size_t rdata = pos;
    pos += rdlength;
    if (rclass != kClassIn) {
      continue;
    }
    if (rec.type == kQtypeCname) {
      std::size_t end = 0;
      // The target may use pointers anywhere earlier in the message, but its own encoding must
      // fill the rdata exactly.
      if (!read_name(msg.substr(0, pos), rdata, rec.data, end) || end != pos) {
        return std::nullopt;
      }
      records.push_back(std::move(rec));
    } else if (rec.type == qtype) {
      const std::size_t want = qtype == kQtypeA ? 4 : 16;
      if (rdlength != want) {
        return std::nullopt;
      }
      rec.data.assign(msg.substr(rdata, rdlength));
      records.push_back(std::move(rec));
    }
  }

  // Follow the CNAME chain from the queried name, bounded and loop-free.
  std::vector<std::string> chain{qname};
  std::uint32_t chain_ttl = UINT32_MAX;
  for (int hop = 0; hop < kMaxCnameHops; ++hop) {
    const auto link = std::find_if(records.begin(), records.end(), [&](const Record& r) {
      return r.type == kQtypeCname && r.owner == chain.back();
    });
    if (link == records.end() ||
        std::find(chain.begin(), chain.end(), link->data) != chain.end()) {
      break;
    }
    chain_ttl = std::min(chain_ttl, link->ttl);
    chain.push_back(link->data);
  }

  std::uint32_t min_ttl = chain_ttl;
  for (const Record& rec : records) {
    if (rec.type != qtype || std::find(chain.begin(), chain.end(), rec.owner) == chain.end()) {
      continue;
    }
    const auto* bytes = reinterpret_cast<const unsigned char*>(rec.data.data());
    std::string text = qtype == kQtypeA ? format_ipv4(bytes) : format_ipv6(bytes);
    min_ttl = std::min(min_ttl, rec.ttl);
    if (std::find(answer.addresses.begin(), answer.addresses.end(), text) ==
        answer.addresses.end()) {
      if (answer.addresses.size() >= kMaxAddresses) {
        break;
      }
      answer.addresses.push_back(std::move(text));
    }
  }
  answer.min_ttl = answer.addresses.empty() ? 0 : min_ttl;
  return answer;
}

std::string format_ipv4(const unsigned char bytes[4]) {
  std::string out;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      out.push_back('.');
    }
    out += std::to_string(static_cast<unsigned>(bytes[i]));
  }
  return out;
}

std::string format_ipv6(const unsigned char bytes[16]) {
  static constexpr char kHex[] = "0123456789abcdef";
  // IPv4-mapped ::ffff:a.b.c.d keeps the dotted tail (RFC 5952 5).
  if (std::all_of(bytes, bytes + 10, [](unsigned char b) { return b == 0; }) &&
      bytes[10] == 0xff && bytes[11] == 0xff) {
    return "::ffff:" + format_ipv4(bytes + 12);
  }
  std::uint16_t groups[8];
  for (int i = 0; i < 8; ++i) {
    groups[i] = static_cast<std::uint16_t>((bytes[2 * i] << 8) | bytes[2 * i + 1]);
  }
  int best_start = -1;
  int best_len = 0;
  for (int i = 0; i < 8;) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && groups[j] == 0) {
      ++j;
    }
    if (j - i > best_len) {
      best_start = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) {
    best_start = -1;
  }
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') {
      out.push_back(':');
    }
    const std::uint16_t g = groups[i];
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const unsigned nibble = (g >> shift) & 0xF;
      if (nibble != 0 || started || shift == 0) {
        out.push_back(kHex[nibble]);
        started = true;
      }
    }
  }
  return out;
}

}  // namespace portcullis::gateway::egress
