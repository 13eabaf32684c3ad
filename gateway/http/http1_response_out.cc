// h1::ResponseOut (see http1_response_out.h).
#include "gateway/http/http1_response_out.h"

#include <algorithm>

namespace portcullis::gateway::http::h1 {

bool ResponseOut::write_head(std::string& out, Exchange& ex, ResponseFraming f) {
  write_response_head(out, ex.response(), f);
  body_allowed_ = f.body_allowed;
  chunked_ = f.chunked;
  head_written_ = true;
  return f.close;
}

void ResponseOut::write_body(std::string& out, Exchange& ex, std::size_t limit) {
  BodyBuffer& body = ex.response_body();
  if (!body_allowed_) {
    const std::size_t n = body.size();
    if (n > 0) {
      body.consume(n);
      ex.response_body_consumed(n);
    }
    complete_ = body.eof();
    return;
  }
  while (!body.empty() && out.size() < limit) {
    const std::size_t n = std::min(limit - out.size(), body.size());
    append_body_piece(out, body.peek().substr(0, n), chunked_);
    body.consume(n);
    ex.info().bytes_out += n;
    ex.response_body_consumed(n);
  }
  if (body.finished()) {
    if (chunked_) {
      append_last_chunk(out, ex.response().trailers);
    }
    complete_ = true;
  }
}

}  // namespace portcullis::gateway::http::h1
