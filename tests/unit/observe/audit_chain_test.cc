// The audit hash chain: lines built by chain_line() verify, and each kind of tampering is found
// at the line where it happened.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "gateway/observe/audit_chain.h"

using namespace portcullis::gateway::observe;

namespace {

std::vector<std::string> make_lines(const ChainHasher& h, int n, ChainState* state = nullptr) {
  ChainState local;
  ChainState& s = state != nullptr ? *state : local;
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(chain_line(s, h, R"({"event":"e)" + std::to_string(i) + R"(","x":1})"));
  }
  return out;
}

std::string join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) {
    s += l + "\n";
  }
  return s;
}

VerifyResult check(const std::vector<std::string>& lines, const ChainHasher& h = {}) {
  return verify_chain({{"a.log", join(lines)}}, h);
}

}  // namespace

TEST_CASE("chain_line puts seq and prev first and keeps the body") {
  ChainHasher h;
  ChainState s;
  const auto l1 = chain_line(s, h, R"({"event":"x"})");
  CHECK(l1 == R"({"seq":1,"prev":"sha256:)" + std::string(64, '0') + R"(","event":"x"})");
  const auto l2 = chain_line(s, h, "{}");
  const auto f = parse_chain_fields(l2);
  REQUIRE(f);
  CHECK(f->seq == 2);
  CHECK(f->prev == h.digest(l1));
  CHECK(l2.back() == '}');
}

TEST_CASE("sha256 digest is the standard one") {
  CHECK(ChainHasher().digest("abc") ==
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  CHECK(ChainHasher("Jefe").digest("what do ya want for nothing?") ==
        "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("an intact chain verifies, across files too") {
  const ChainHasher h;
  const auto lines = make_lines(h, 6);
  CHECK(check(lines).ok);
  CHECK(check(lines).lines == 6);
  const std::vector<std::string> a(lines.begin(), lines.begin() + 2);
  const std::vector<std::string> b(lines.begin() + 2, lines.end());
  CHECK(verify_chain({{"old", join(a)}, {"new", join(b)}}, h).ok);
  // The newer file alone starts mid-chain: refused unless --continued.
  CHECK_FALSE(verify_chain({{"new", join(b)}}, h).ok);
  CHECK(verify_chain({{"new", join(b)}}, h, true).ok);
  CHECK(verify_chain({}, h).ok);
}

TEST_CASE("an edited line is found") {
  const ChainHasher h;
  auto lines = make_lines(h, 5);
  lines[2].replace(lines[2].find("\"x\":1"), 5, "\"x\":2");
  const auto r = check(lines);
  CHECK_FALSE(r.ok);
  CHECK(r.line == 3);
  CHECK(r.message.find("edited") != std::string::npos);
}

TEST_CASE("a deleted line is found") {
  const ChainHasher h;
  auto lines = make_lines(h, 5);
  lines.erase(lines.begin() + 2);
  const auto r = check(lines);
  CHECK_FALSE(r.ok);
  CHECK(r.line == 3);
  CHECK(r.message.find("deleted") != std::string::npos);
}

TEST_CASE("deleting a line and renumbering the rest is still found") {
  const ChainHasher h;
  auto lines = make_lines(h, 5);
  lines.erase(lines.begin() + 2);
  for (std::size_t i = 2; i < lines.size(); ++i) {
    const auto f = parse_chain_fields(lines[i]);
    const auto digits = std::to_string(f->seq);
    lines[i].replace(lines[i].find(digits), digits.size(), std::to_string(f->seq - 1));
  }
  const auto r = check(lines);
  CHECK_FALSE(r.ok);
  CHECK(r.line == 2);  // line 2 is not what line 3's prev was chained to
}

TEST_CASE("reordered lines are found") {
  const ChainHasher h;
  auto lines = make_lines(h, 5);
  std::swap(lines[1], lines[3]);
  const auto r = check(lines);
  CHECK_FALSE(r.ok);
  CHECK(r.line == 2);
  CHECK(r.message.find("reordered") != std::string::npos);
}

TEST_CASE("truncation is found: a cut last line and a cut head") {
  const ChainHasher h;
  const auto lines = make_lines(h, 4);
  std::string text = join(lines);
  text.resize(text.size() - 10);
  auto r = verify_chain({{"a.log", text}}, h);
  CHECK_FALSE(r.ok);
  CHECK(r.line == 4);
  CHECK(r.message.find("truncated") != std::string::npos);

  const std::vector<std::string> tail(lines.begin() + 1, lines.end());
  r = check(tail);
  CHECK_FALSE(r.ok);
  CHECK(r.line == 1);
}

TEST_CASE("a keyed chain needs the key, and an unkeyed re-chain does not pass for it") {
  const ChainHasher keyed("secret");
  const auto lines = make_lines(keyed, 3);
  CHECK(check(lines, keyed).ok);
  auto r = check(lines);  // no key
  CHECK_FALSE(r.ok);
  CHECK(r.message.find("--key") != std::string::npos);
  CHECK_FALSE(check(lines, ChainHasher("other")).ok);
  // A writer without the key re-chains with plain SHA-256: refused when the key is given.
  CHECK_FALSE(check(make_lines(ChainHasher(), 3), keyed).ok);
}

TEST_CASE("resume_after continues the chain") {
  const ChainHasher h("k");
  ChainState s;
  auto first = make_lines(h, 3, &s);
  ChainState resumed = resume_after(first.back(), h);
  CHECK(resumed.next_seq == 4);
  auto more = make_lines(h, 2, &resumed);
  first.insert(first.end(), more.begin(), more.end());
  CHECK(check(first, h).ok);
  // A line from before chaining starts a new chain.
  CHECK(resume_after(R"({"time":"t","event":"x"})", h).next_seq == 1);
}

TEST_CASE("parse_chain_fields refuses what the writer never writes") {
  CHECK_FALSE(parse_chain_fields(R"({"prev":"sha256:00","seq":1})"));
  CHECK_FALSE(parse_chain_fields(R"({"seq":x,"prev":"sha256:00"})"));
  CHECK_FALSE(parse_chain_fields(R"({"seq":1,"prev":"sha256:00)"));
  CHECK(parse_chain_fields(R"({"seq":1,"prev":"sha256:00"})"));
}
