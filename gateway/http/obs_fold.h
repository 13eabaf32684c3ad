// ObsFoldDetector: tells llhttp 8's obs-fold apart from a field value split across reads.
//
// Thread:   the engine's worker loop.
// llhttp 8 accepts obs-fold and reports the continuation line as a further value piece. Pieces
// of one value are contiguous, or split exactly at an input chunk boundary; any gap means a
// CRLF + whitespace was skipped: obs-fold, which we refuse (RFC 9112 5.2).
#pragma once

#include <cstddef>
#include <cstdint>

namespace portcullis::gateway::http::h1 {

class ObsFoldDetector {
 public:
  // Before each llhttp_execute() over [data, data+len).
  void on_execute(const char* data, std::size_t len) noexcept {
    ++exec_id_;
    prev_exec_end_ = exec_end_;
    exec_begin_ = reinterpret_cast<std::uintptr_t>(data);
    exec_end_ = exec_begin_ + len;
  }
  // A new field starts.
  void start_field() noexcept { value_pieces_ = 0; }
  // One value piece; false: it does not continue the previous piece (obs-fold).
  bool value_piece(const char* at, std::size_t len) noexcept {
    const auto begin = reinterpret_cast<std::uintptr_t>(at);
    if (value_pieces_ > 0) {
      const bool same_chunk = value_exec_id_ == exec_id_ && begin == value_end_;
      const bool next_chunk = value_exec_id_ + 1 == exec_id_ && value_end_ == prev_exec_end_ &&
                              begin == exec_begin_;
      if (!same_chunk && !next_chunk) {
        return false;
      }
    }
    ++value_pieces_;
    value_exec_id_ = exec_id_;
    value_end_ = begin + len;
    return true;
  }

 private:
  std::uint64_t exec_id_ = 0;
  std::uintptr_t exec_begin_ = 0;
  std::uintptr_t exec_end_ = 0;
  std::uintptr_t prev_exec_end_ = 0;
  std::uint64_t value_exec_id_ = 0;
  std::uintptr_t value_end_ = 0;
  std::uint32_t value_pieces_ = 0;
};

}  // namespace portcullis::gateway::http::h1
