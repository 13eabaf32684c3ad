// StrictFraming: the gateway's own check of HTTP/1.1 framing bytes, run before llhttp.
//
// Thread:   the engine's worker loop (one scanner per connection, state kept across reads).
// Why:      Debian's llhttp 8.1 lets a bare CR (not followed by LF) end a head line or a
//           chunk-size line, and takes any two bytes after chunk data as its CRLF (fixed in
//           llhttp 9). A front proxy that passes such bytes through would then see other
//           message boundaries than we do (request smuggling). This scanner refuses them.
// Cost:     it walks heads, chunk-size lines and trailers byte by byte; body bytes (by length or
//           inside a chunk) are skipped by count, never read.
// Protocol: scan() stops right after a head's final LF; the engine, having run llhttp over the
//           head, says how the body is framed with body() before scanning on.
#pragma once

#include <cstddef>
#include <cstdint>

namespace portcullis::gateway::http::h1 {

class StrictFraming {
 public:
  enum class Body : std::uint8_t { none, length, chunked, until_close };

  struct Result {
    bool ok;        // false: a framing violation at data[n]
    std::size_t n;  // bytes checked, to hand to llhttp
  };

  // Checks [data, data+len); stops early after a complete head, or at a violation.
  Result scan(const char* data, std::size_t len) noexcept;

  // The body framing of the head just scanned (`length` bytes for Body::length).
  void body(Body kind, std::uint64_t length = 0) noexcept;

  // True between the end of a head and the call to body().
  bool awaiting_body() const noexcept { return state_ == State::head_done; }
  bool failed() const noexcept { return state_ == State::error; }

 private:
  enum class State : std::uint8_t {
    head,        // request/status line and fields, up to the empty line
    head_done,   // waiting for body()
    data,        // left_ body bytes (Content-Length)
    chunk_size,  // chunk-size [ext] line
    chunk_data,  // left_ bytes of chunk data
    chunk_cr,    // the CR after chunk data
    chunk_lf,    // the LF after chunk data
    trailers,    // trailer fields, up to the empty line
    raw,         // close-delimited body: not framed
    error,
  };

  bool line_byte(char c) noexcept;  // one byte of a head / chunk line / trailer; false: bad
  void end_line() noexcept;

  State state_ = State::head;
  bool cr_ = false;          // the previous byte was a CR: only LF may follow
  bool line_seen_ = false;   // head: a non-empty line came (leading empty lines are skipped)
  bool size_done_ = false;   // chunk_size: the hex digits ended (extension follows)
  std::uint8_t digits_ = 0;  // chunk_size: hex digits read
  std::uint32_t line_ = 0;   // bytes on the current line, CR/LF excluded
  std::uint64_t left_ = 0;   // body or chunk bytes still to skip
};

}  // namespace portcullis::gateway::http::h1
