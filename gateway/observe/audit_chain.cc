#include "gateway/observe/audit_chain.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace portcullis::gateway::observe {
namespace {

constexpr std::string_view kSeqPrefix = R"({"seq":)";
constexpr std::string_view kPrevKey = R"(,"prev":")";
constexpr std::size_t kTailWindow = 1 << 20;

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 0xf];
  }
  return out;
}

std::string_view algorithm_of(std::string_view prev) {
  const auto colon = prev.find(':');
  return colon == std::string_view::npos ? std::string_view{} : prev.substr(0, colon);
}

}  // namespace

std::string ChainHasher::digest(std::string_view line) const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (keyed()) {
    HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
         reinterpret_cast<const unsigned char*>(line.data()), line.size(), md, &len);
  } else {
    EVP_Digest(line.data(), line.size(), md, &len, EVP_sha256(), nullptr);
  }
  return std::string(algorithm()) + ":" + hex(md, len);
}

std::string ChainHasher::genesis() const {
  return std::string(algorithm()) + ":" + std::string(64, '0');
}

std::optional<ChainFields> parse_chain_fields(std::string_view line) {
  if (!line.starts_with(kSeqPrefix)) {
    return std::nullopt;
  }
  ChainFields f;
  const char* p = line.data() + kSeqPrefix.size();
  const char* end = line.data() + line.size();
  const auto [q, ec] = std::from_chars(p, end, f.seq);
  if (ec != std::errc{} || q == p) {
    return std::nullopt;
  }
  std::string_view rest(q, static_cast<std::size_t>(end - q));
  if (!rest.starts_with(kPrevKey)) {
    return std::nullopt;
  }
  rest.remove_prefix(kPrevKey.size());
  const auto close = rest.find('"');
  if (close == std::string_view::npos || close + 1 >= rest.size() ||
      (rest[close + 1] != ',' && rest[close + 1] != '}')) {
    return std::nullopt;
  }
  f.prev = std::string(rest.substr(0, close));
  return f;
}

std::string chain_line(ChainState& state, const ChainHasher& h, std::string_view body) {
  std::string line(kSeqPrefix);
  line += std::to_string(state.next_seq);
  line += kPrevKey;
  line += state.prev.empty() ? h.genesis() : state.prev;
  line += '"';
  // body is "{...}": splice its fields after ours ("{}" adds none).
  if (body.size() > 2) {
    line += ',';
    line.append(body.substr(1));
  } else {
    line += '}';
  }
  state.next_seq += 1;
  state.prev = h.digest(line);
  return line;
}

ChainState resume_after(std::string_view last_line, const ChainHasher& h) {
  ChainState s;
  if (const auto f = parse_chain_fields(last_line)) {
    s.next_seq = f->seq + 1;
    s.prev = h.digest(last_line);
  }
  return s;
}

namespace {

struct Line {
  std::size_t file;
  std::uint64_t number;
  std::string_view text;
  std::optional<ChainFields> fields;
};

VerifyResult fail(const std::vector<ChainInput>& files, const Line& l, std::string msg) {
  VerifyResult r;
  r.ok = false;
  r.file = files[l.file].name;
  r.line = l.number;
  r.message = std::move(msg);
  return r;
}

}  // namespace

VerifyResult verify_chain(const std::vector<ChainInput>& files, const ChainHasher& h,
                          bool continued) {
  std::vector<Line> lines;
  for (std::size_t fi = 0; fi < files.size(); ++fi) {
    std::string_view c = files[fi].content;
    std::uint64_t n = 0;
    while (!c.empty()) {
      const auto nl = c.find('\n');
      Line l{fi, ++n, c.substr(0, nl), std::nullopt};
      if (nl == std::string_view::npos) {
        // No newline: the writer never leaves a line like this, so the file was cut.
        return fail(files, l, "truncated: the last line is incomplete (no newline)");
      }
      c.remove_prefix(nl + 1);
      l.fields = parse_chain_fields(l.text);
      if (!l.fields) {
        return fail(files, l, "no chain fields (seq, prev) at the start of the line: edited");
      }
      const auto alg = algorithm_of(l.fields->prev);
      if (alg != h.algorithm()) {
        return fail(files, l,
                    alg == "hmac-sha256"
                        ? std::string("the chain is keyed (hmac-sha256): pass --key FILE")
                        : "prev uses " + std::string(alg) + ", expected " +
                              std::string(h.algorithm()) + ": re-chained or edited");
      }
      lines.push_back(std::move(l));
    }
  }
  VerifyResult ok;
  ok.lines = lines.size();
  if (lines.empty()) {
    return ok;
  }
  if (!continued) {
    const auto& first = lines.front();
    if (first.fields->seq != 1 || first.fields->prev != h.genesis()) {
      return fail(files, first,
                  "the chain starts at seq " + std::to_string(first.fields->seq) +
                      ", not 1: lines deleted from the head (or pass --continued for a "
                      "file that follows a rotated one)");
    }
  }
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto& prev = lines[i - 1];
    const auto& cur = lines[i];
    const std::uint64_t expected = prev.fields->seq + 1;
    if (cur.fields->seq != expected) {
      const bool later = std::any_of(lines.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                                     lines.end(),
                                     [&](const Line& l) { return l.fields->seq == expected; });
      std::string what = later ? "out of order: lines reordered"
                         : cur.fields->seq > expected
                             ? std::to_string(cur.fields->seq - expected) +
                                   " line(s) missing before it: deleted"
                             : "seq goes back: lines duplicated or reordered";
      return fail(files, cur,
                  "seq " + std::to_string(cur.fields->seq) + " where " +
                      std::to_string(expected) + " was expected, " + what);
    }
    if (cur.fields->prev != h.digest(prev.text)) {
      // The previous line's bytes are not what its successor was chained to: it was edited.
      return fail(files, prev,
                  "edited: its digest does not match the prev of the line after it");
    }
  }
  return ok;
}

std::string read_last_line_fd(int fd, bool* partial) {
  if (partial != nullptr) {
    *partial = false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    return {};
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  const std::size_t want = std::min(size, kTailWindow);
  std::string buf(want, '\0');
  std::size_t got = 0;
  while (got < want) {
    const ssize_t n = ::pread(fd, buf.data() + got, want - got,
                              static_cast<off_t>(size - want + got));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  buf.resize(got);
  std::string_view v(buf);
  if (!v.empty() && v.back() != '\n') {
    if (partial != nullptr) {
      *partial = true;
    }
    const auto nl = v.rfind('\n');
    v = nl == std::string_view::npos ? std::string_view{} : v.substr(0, nl + 1);
  }
  if (v.empty()) {
    return {};
  }
  v.remove_suffix(1);  // the newline
  const auto start = v.rfind('\n');
  if (start == std::string_view::npos) {
    // The window began mid-line unless it holds the whole file.
    return want == size ? std::string(v) : std::string{};
  }
  return std::string(v.substr(start + 1));
}

std::string read_last_line(const std::string& path, bool* partial) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (partial != nullptr) {
      *partial = false;
    }
    return {};
  }
  std::string s = read_last_line_fd(fd, partial);
  ::close(fd);
  return s;
}

}  // namespace portcullis::gateway::observe
