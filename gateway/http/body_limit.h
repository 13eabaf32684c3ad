// Request bodies the gateway will not pass on, shared by Http1Session and Http2Session:
// - [limits] max_request_body: a declared Content-Length over it is refused before the request
//   goes anywhere (413, no 100 Continue); a chunked / HTTP/2 body that grows past it is cut off
//   (the upstream request is reset, never completed) and answered 413 while that is possible.
// - the read-and-drop bound: after an answer that came before the upload ended (a local reply,
//   an upstream's early answer, the 413 itself), the rest of the body is read and dropped, so
//   that the close (HTTP/1.1) or the reset (HTTP/2) does not destroy the answer on its way
//   (a close with unread bytes in the kernel's buffer sends RST). At most kMaxDiscard bytes.
//
// Thread: pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace portcullis::gateway::http {

inline constexpr std::size_t kMaxDiscard = 8u << 20;
inline constexpr std::string_view kBodyTooLargeLine = "request body too large";

struct BodyLimit {
  std::uint64_t max = 0;  // bytes; 0 = no limit

  // A declared length (Content-Length) the request may not have.
  bool refuses(const std::optional<std::uint64_t>& declared) const noexcept {
    return max != 0 && declared.has_value() && *declared > max;
  }
  // `received` body bytes so far are past the limit.
  bool over(std::uint64_t received) const noexcept { return max != 0 && received > max; }
};

// Bytes read and dropped for one request; false once past kMaxDiscard (give up: close/reset).
class DiscardBudget {
 public:
  bool drop(std::size_t n) noexcept {
    dropped_ += n;
    return dropped_ <= kMaxDiscard;
  }
  bool spent() const noexcept { return dropped_ > kMaxDiscard; }
  std::size_t dropped() const noexcept { return dropped_; }
  void reset() noexcept { dropped_ = 0; }

 private:
  std::size_t dropped_ = 0;
};

}  // namespace portcullis::gateway::http
