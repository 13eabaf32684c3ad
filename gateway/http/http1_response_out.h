// h1::ResponseOut: writes one response of the downstream HTTP/1.1 session (Http1Session): the
// head, then body pieces within a byte budget, and remembers how the body is framed. The
// session decides when and whether the connection closes; this only serializes.
//
// Thread: one worker loop.
#pragma once

#include <cstddef>
#include <string>

#include "gateway/http/exchange.h"
#include "gateway/http/http1_session.h"

namespace portcullis::gateway::http::h1 {

class ResponseOut {
 public:
  void reset() noexcept { *this = ResponseOut{}; }
  bool head_written() const noexcept { return head_written_; }
  // The whole response (last chunk included) is in the output.
  bool complete() const noexcept { return complete_; }

  // The status line and fields of ex.response(); `f` brings the request's facts (HEAD,
  // HTTP/1.0, close, upgrade). Returns whether the connection ends after this response.
  bool write_head(std::string& out, Exchange& ex, ResponseFraming f);
  // Moves body bytes until `out` holds `limit` bytes or the body buffer is empty.
  void write_body(std::string& out, Exchange& ex, std::size_t limit);

 private:
  bool head_written_ = false;
  bool chunked_ = false;
  bool body_allowed_ = false;
  bool complete_ = false;
};

}  // namespace portcullis::gateway::http::h1
