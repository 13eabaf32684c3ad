// Validation of an HTTP/1.1 request head as llhttp parsed it, and the RequestHead built from it.
// Split out of Http1Session so the engine file keeps to the byte flow.
//
// Thread:   pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "gateway/http/message.h"

namespace portcullis::gateway::http::h1 {

// What llhttp reported for one request head.
struct RawRequest {
  std::string method;
  std::string url;
  Headers fields;  // raw: names as sent, values untrimmed
  int http_major = 1;
  int http_minor = 1;
  bool connect = false;         // llhttp's method is CONNECT
  bool has_content_length = false;
  std::uint64_t content_length = 0;
};

struct BuiltRequest {
  const char* error = nullptr;  // set: a 400 with this line; the rest is unset
  RequestHead head;
  bool http11 = true;
  bool chunked = false;
  bool expect_continue = false;
};

// Checks the head (version, method, target, Host, framing fields, field syntax) and builds the
// RequestHead: names lower-cased, values OWS-trimmed, hop-by-hop, Connection-named, Host,
// Content-Length and the underscore spellings of gateway-owned fields removed. Consumes
// raw.fields. Throws std::bad_alloc only.
BuiltRequest build_request(RawRequest& raw, const std::string& scheme);

// Checks a chunked body's trailer section and appends the fields worth passing on
// (forwardable_trailer) to `out`, lower-cased and trimmed. Returns an error line or nullptr.
const char* build_trailers(Headers& raw, Headers& out);

}  // namespace portcullis::gateway::http::h1
