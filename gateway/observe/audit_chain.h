// The audit log's hash chain, as pure functions (no I/O except the file helpers at the end).
//
// Every audit line starts {"seq":N,"prev":"ALG:HEX",...}: N counts from 1 over the life of the
// log (across SIGUSR1 reopen, rotation and restarts), and prev is the digest of the previous
// line's exact bytes (without its newline): "sha256:" when no key is configured, "hmac-sha256:"
// (HMAC-SHA256 under [log] audit_key) when one is, so a writer without the key cannot re-chain
// an edited log. The first line of a chain has seq 1 and prev = ALG + ":" + 64 zeros.
//
// verify_chain() walks lines from one or more files in order and reports the first line where an
// edit, deletion, reordering, insertion or truncation shows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::gateway::observe {

class ChainHasher {
 public:
  ChainHasher() = default;                        // plain SHA-256
  explicit ChainHasher(std::string key) : key_(std::move(key)) {}  // HMAC-SHA256; "" = plain

  bool keyed() const noexcept { return !key_.empty(); }
  std::string_view algorithm() const noexcept { return keyed() ? "hmac-sha256" : "sha256"; }
  // "ALG:HEX" of `line`.
  std::string digest(std::string_view line) const;
  // "ALG:000...0", the prev of a chain's first line.
  std::string genesis() const;

 private:
  std::string key_;
};

// What the next line needs: its seq and its prev.
struct ChainState {
  std::uint64_t next_seq = 1;
  std::string prev;  // empty = genesis
};

// The chain fields of one line, when it has them at the front.
struct ChainFields {
  std::uint64_t seq = 0;
  std::string prev;  // "ALG:HEX"
};
std::optional<ChainFields> parse_chain_fields(std::string_view line);

// Turns `body` ("{...}" from JsonLine) into the chained line and advances `state`.
std::string chain_line(ChainState& state, const ChainHasher& h, std::string_view body);

// The state that continues after `last_line` (a complete line of the log). A line without chain
// fields (a log written before chaining) starts a new chain at seq 1.
ChainState resume_after(std::string_view last_line, const ChainHasher& h);

struct VerifyResult {
  bool ok = true;
  std::string file;         // where the first break is
  std::uint64_t line = 0;   // 1-based line number in that file
  std::string message;      // what is wrong there
  std::uint64_t lines = 0;  // lines checked (all files)
};

struct ChainInput {
  std::string name;     // file name for the report
  std::string content;  // the file's bytes
};

// `continued`: the first file may start mid-chain (an older rotated file is not given); without
// it the first line must be seq 1 with the genesis prev, so lines cut from the head show.
VerifyResult verify_chain(const std::vector<ChainInput>& files, const ChainHasher& h,
                          bool continued = false);

// The last complete line of the file at `path` (reads at most the last 1 MiB), or "" when the
// file is empty, absent, or its last line is longer. `partial` is set when the file does not end
// with a newline (a line cut by a crash or a truncation).
std::string read_last_line(const std::string& path, bool* partial = nullptr);
std::string read_last_line_fd(int fd, bool* partial = nullptr);

}  // namespace portcullis::gateway::observe
