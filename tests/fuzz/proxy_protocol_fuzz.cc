// Fuzz target: gateway::pp::ProxyHeaderParser (PROXY protocol v1 and v2).
// Input: bytes as received from a client socket, fed the way a connection feeds them: every
// prefix in turn (the caller appends and re-parses the whole buffer).
// Checks: the answer is monotonic (once done or error, every longer prefix gives the same
// answer); need_more only while the bytes are a prefix of a signature; done consumes a header
// within the limits, ending where the prefix stops being need_more; the fields of a done result
// are well-formed (addresses re-parse, authority bounded); the three `allowed` settings agree;
// a v1 result printed back as a canonical line parses to the same result.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/snapshot/proxy_protocol.h"
#include "tests/fuzz/fuzz_check.h"

namespace pp = portcullis::gateway::listen;
using State = pp::ProxyResult::State;

namespace {

const std::string_view kV1Sig = "PROXY ";
const std::string_view kV2Sig{"\r\n\r\n\0\r\nQUIT\n", 12};
// Longest prefix worth feeding one byte at a time: past it every answer is final.
constexpr std::size_t kPrefixLimit = pp::kProxyV2MaxHeader + 8;

bool same(const pp::ProxyResult& a, const pp::ProxyResult& b) {
  return a.state == b.state && a.error == b.error && a.version == b.version &&
         a.local == b.local && a.source_ip == b.source_ip && a.source_port == b.source_port &&
         a.dest_ip == b.dest_ip && a.dest_port == b.dest_port && a.consumed == b.consumed &&
         a.authority == b.authority;
}

bool starts_like_signature(std::string_view in) {
  const auto pre = [&](std::string_view sig) {
    const std::size_t n = in.size() < sig.size() ? in.size() : sig.size();
    return in.substr(0, n) == sig.substr(0, n);
  };
  return pre(kV1Sig) || pre(kV2Sig);
}

bool valid_ip(const std::string& ip) {
  std::array<unsigned char, sizeof(in6_addr)> bin{};
  return inet_pton(AF_INET, ip.c_str(), bin.data()) == 1 ||
         inet_pton(AF_INET6, ip.c_str(), bin.data()) == 1;
}

void check_done(std::string_view in, const pp::ProxyResult& r) {
  FUZZ_CHECK(r.error == pp::ProxyError::none);
  FUZZ_CHECK(r.consumed > 0 && r.consumed <= in.size());
  FUZZ_CHECK(r.version == 1 || r.version == 2);
  if (r.version == 1) {
    FUZZ_CHECK(in.substr(0, kV1Sig.size()) == kV1Sig);
    FUZZ_CHECK(r.consumed <= pp::kProxyV1MaxLine);
    FUZZ_CHECK(in.substr(r.consumed - 2, 2) == "\r\n");
    FUZZ_CHECK(r.authority.empty());
  } else {
    FUZZ_CHECK(in.substr(0, kV2Sig.size()) == kV2Sig);
    FUZZ_CHECK(r.consumed >= 16 && r.consumed <= pp::kProxyV2MaxHeader);
  }
  FUZZ_CHECK(r.authority.size() <= pp::kProxyV2MaxAuthority);
  if (r.local) {
    FUZZ_CHECK(r.source_ip.empty() && r.dest_ip.empty());
    FUZZ_CHECK(r.source_port == 0 && r.dest_port == 0 && r.authority.empty());
  } else {
    FUZZ_CHECK(valid_ip(r.source_ip) && valid_ip(r.dest_ip));
    FUZZ_CHECK((r.source_ip.find(':') == std::string::npos) ==
               (r.dest_ip.find(':') == std::string::npos));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const pp::ProxyHeaderParser any(pp::ProxyVersions::any);
  const pp::ProxyHeaderParser only_v1(pp::ProxyVersions::v1);
  const pp::ProxyHeaderParser only_v2(pp::ProxyVersions::v2);

  const pp::ProxyResult whole = any.parse(in);
  if (whole.state == State::done) {
    check_done(in, whole);
  } else if (whole.state == State::error) {
    FUZZ_CHECK(whole.error != pp::ProxyError::none && whole.consumed == 0);
  } else {
    FUZZ_CHECK(whole.error == pp::ProxyError::none && whole.consumed == 0);
    FUZZ_CHECK(starts_like_signature(in));
    FUZZ_CHECK(size < kPrefixLimit);
  }

  // Prefix by prefix: need_more until the answer is final; then longer prefixes (a sample of
  // them, to keep the target fast) give the same answer.
  const std::size_t limit = size < kPrefixLimit ? size : kPrefixLimit;
  std::size_t final_at = 0;
  bool final_seen = false;
  pp::ProxyResult final_answer;
  for (std::size_t n = 0; n <= limit && !final_seen; ++n) {
    const pp::ProxyResult r = any.parse(in.substr(0, n));
    if (r.state == State::need_more) {
      FUZZ_CHECK(r.consumed == 0 && r.error == pp::ProxyError::none);
      FUZZ_CHECK(starts_like_signature(in.substr(0, n)));
      continue;
    }
    final_seen = true;
    final_at = n;
    final_answer = r;
    if (r.state == State::done) {
      FUZZ_CHECK(r.consumed == n);  // done exactly when the last header byte arrives
    }
  }
  if (final_seen) {
    FUZZ_CHECK(same(whole, final_answer));
    for (std::size_t n : {final_at + 1, final_at + 2, final_at + 3, (final_at + size) / 2,
                          size - (size > final_at ? 1 : 0)}) {
      if (n >= final_at && n <= size) {
        FUZZ_CHECK(same(any.parse(in.substr(0, n)), final_answer));
      }
    }
  }

  // `allowed` only ever turns a v1/v2 answer into version_not_allowed.
  const pp::ProxyResult r1 = only_v1.parse(in);
  const pp::ProxyResult r2 = only_v2.parse(in);
  if (whole.state == State::done) {
    const bool is_v1 = whole.version == 1;
    FUZZ_CHECK(same(is_v1 ? r1 : r2, whole));
    const pp::ProxyResult& other = is_v1 ? r2 : r1;
    FUZZ_CHECK(other.state == State::error &&
               other.error == pp::ProxyError::version_not_allowed);
  } else if (whole.state == State::error) {
    FUZZ_CHECK(r1.state == State::error && r2.state == State::error);
    if (whole.error == pp::ProxyError::bad_signature) {
      FUZZ_CHECK(r1.error == whole.error && r2.error == whole.error);
    }
  }

  // A v1 TCP result printed back canonically parses to the same addresses and ports.
  if (whole.state == State::done && whole.version == 1 && !whole.local) {
    const bool v6 = whole.source_ip.find(':') != std::string::npos;
    const std::string line = std::string(v6 ? "PROXY TCP6 " : "PROXY TCP4 ") + whole.source_ip +
                             " " + whole.dest_ip + " " + std::to_string(whole.source_port) +
                             " " + std::to_string(whole.dest_port) + "\r\n";
    pp::ProxyResult again = any.parse(line);
    FUZZ_CHECK(again.state == State::done && again.consumed == line.size());
    again.consumed = whole.consumed;
    FUZZ_CHECK(same(again, whole));
  }
  return 0;
}
