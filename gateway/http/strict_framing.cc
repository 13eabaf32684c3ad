// StrictFraming (see strict_framing.h).
#include "gateway/http/strict_framing.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace portcullis::gateway::http::h1 {

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// 16 hex digits fill a uint64_t; llhttp refuses an overflowing size too.
constexpr std::uint8_t kMaxSizeDigits = 16;

// Bytes before the first CR or LF in [p, p+n): two memchr passes (vectorised in glibc) instead
// of a call per byte, since field lines are mostly plain bytes.
std::size_t span_to_line_end(const char* p, std::size_t n) noexcept {
  const void* lf = std::memchr(p, '\n', n);
  const std::size_t end = lf != nullptr ? static_cast<std::size_t>(static_cast<const char*>(lf) - p) : n;
  const void* cr = std::memchr(p, '\r', end);
  return cr != nullptr ? static_cast<std::size_t>(static_cast<const char*>(cr) - p) : end;
}

}  // namespace

void StrictFraming::body(Body kind, std::uint64_t length) noexcept {
  if (state_ != State::head_done) {
    return;
  }
  cr_ = false;
  line_ = 0;
  line_seen_ = false;
  switch (kind) {
    case Body::none:
      state_ = State::head;
      break;
    case Body::length:
      left_ = length;
      state_ = length > 0 ? State::data : State::head;
      break;
    case Body::chunked:
      state_ = State::chunk_size;
      size_done_ = false;
      digits_ = 0;
      left_ = 0;
      break;
    case Body::until_close:
      state_ = State::raw;
      break;
  }
}

bool StrictFraming::line_byte(char c) noexcept {
  if (cr_) {
    if (c != '\n') {
      return false;  // a bare CR: llhttp 8 would take it as a line end
    }
    cr_ = false;
    end_line();
    return true;
  }
  if (c == '\r') {
    cr_ = true;
    return true;
  }
  if (c == '\n') {
    end_line();  // a bare LF: llhttp judges it
    return true;
  }
  ++line_;
  if (state_ == State::chunk_size && !size_done_) {
    const int v = hex_value(c);
    if (v < 0) {
      size_done_ = true;  // extension or whitespace: llhttp checks its syntax
    } else if (++digits_ > kMaxSizeDigits) {
      return false;
    } else {
      left_ = (left_ << 4) | static_cast<std::uint64_t>(v);
    }
  }
  return true;
}

void StrictFraming::end_line() noexcept {
  const std::uint32_t len = line_;
  line_ = 0;
  switch (state_) {
    case State::head:
      if (len > 0) {
        line_seen_ = true;
      } else if (line_seen_) {
        state_ = State::head_done;
      }
      return;
    case State::chunk_size:
      if (digits_ == 0) {
        state_ = State::error;
      } else if (left_ == 0) {
        state_ = State::trailers;
      } else {
        state_ = State::chunk_data;
      }
      size_done_ = false;
      digits_ = 0;
      return;
    case State::trailers:
      if (len == 0) {
        state_ = State::head;  // the message ended: the next head may follow
        line_seen_ = false;
      }
      return;
    default:
      return;
  }
}

StrictFraming::Result StrictFraming::scan(const char* data, std::size_t len) noexcept {
  std::size_t i = 0;
  while (i < len) {
    switch (state_) {
      case State::head_done:
        return {true, i};
      case State::error:
        return {false, i};
      case State::raw:
        return {true, len};
      case State::data:
      case State::chunk_data: {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(left_, len - i));
        i += n;
        left_ -= n;
        if (left_ == 0) {
          state_ = state_ == State::data ? State::head : State::chunk_cr;
        }
        break;
      }
      case State::chunk_cr:
        if (data[i] != '\r') {
          state_ = State::error;
          return {false, i};
        }
        state_ = State::chunk_lf;
        ++i;
        break;
      case State::chunk_lf:
        if (data[i] != '\n') {
          state_ = State::error;
          return {false, i};
        }
        state_ = State::chunk_size;
        ++i;
        break;
      case State::head:
      case State::trailers:
        if (!cr_) {
          // Only a line's length matters here (empty or not): count its plain bytes at once.
          const std::size_t n = span_to_line_end(data + i, len - i);
          line_ = static_cast<std::uint32_t>(
              std::min<std::uint64_t>(std::uint64_t{line_} + n, std::numeric_limits<std::uint32_t>::max()));
          i += n;
          if (i == len) {
            break;
          }
        }
        [[fallthrough]];
      case State::chunk_size:
        if (!line_byte(data[i]) || state_ == State::error) {
          state_ = State::error;
          return {false, i};
        }
        ++i;
        break;
    }
  }
  return {state_ != State::error, i};
}

}  // namespace portcullis::gateway::http::h1
