#include "gateway/egress/connect_request.h"

#include <optional>
#include <utility>

#include "gateway/http/message.h"
#include "routing/authority.h"

namespace portcullis::gateway::egress {
namespace {

constexpr std::string_view kMethod = "CONNECT";
constexpr std::string_view kVersion = "HTTP/1.1";

using State = ConnectRequest::State;


char to_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) {
      return false;
    }
  }
  return true;
}

ConnectRequest fail(int status, std::string why) {
  ConnectRequest r;
  r.state = State::error;
  r.status = status;
  r.error = std::move(why);
  return r;
}

// authority-form (RFC 9112 3.2.3): host ":" port, port required and 1..65535. The host is
// checked by routing::parse_authority; CONNECT's own policy: a port, and no trailing dot.
bool parse_authority(std::string_view a, ConnectRequest& out, std::string& why) {
  const auto split = routing::split_authority(a);
  if (split && !split->port) {
    why = "authority without port";
    return false;
  }
  const auto hp = routing::parse_authority(a);
  if (!hp) {
    why = split && split->bracketed ? "bad IPv6 literal" : split ? "bad host" : "bad authority";
    return false;
  }
  if (hp->trailing_dot) {
    why = "bad host";
    return false;
  }
  if (*hp->port == 0) {
    why = "port out of range";
    return false;
  }
  out.host = hp->host;
  out.port = *hp->port;
  return true;
}

// Checks the method token of the first line, complete or not: 400 for a byte that cannot be in
// a token, 405 once a whole method other than CONNECT is seen. nullopt: fine so far.
std::optional<ConnectRequest> check_method(std::string_view line) {
  for (std::size_t i = 0; i < line.size(); ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c == ' ') {
      if (i == 0) {
        return fail(400, "empty method");
      }
      if (line.substr(0, i) != kMethod) {
        return fail(405, "method is not CONNECT");
      }
      return std::nullopt;
    }
    if (!http::is_token_char(static_cast<char>(c))) {
      return fail(400, "bad method");
    }
  }
  return std::nullopt;
}

bool parse_request_line(std::string_view line, ConnectRequest& out, std::string& why) {
  // check_method() has already accepted "CONNECT ".
  if (line.size() <= kMethod.size() || line[kMethod.size()] != ' ') {
    why = "bad request line";
    return false;
  }
  const std::string_view rest = line.substr(kMethod.size() + 1);
  const std::size_t sp = rest.find(' ');
  if (sp == std::string_view::npos) {
    why = "bad request line";
    return false;
  }
  const std::string_view authority = rest.substr(0, sp);
  const std::string_view version = rest.substr(sp + 1);
  if (version != kVersion) {
    why = "version is not HTTP/1.1";
    return false;
  }
  return parse_authority(authority, out, why);
}

// One header line (no CRLF). Sets `why` and returns false on a violation.
bool parse_field(std::string_view line, std::string& why) {
  if (line.front() == ' ' || line.front() == '\t') {
    why = "obsolete line folding";
    return false;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    why = "bad header field";
    return false;
  }
  const std::string_view name = line.substr(0, colon);
  for (char c : name) {
    if (!http::is_token_char(c)) {
      why = "bad header field name";
      return false;
    }
  }
  std::string_view value = line.substr(colon + 1);
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) {
      why = "control byte in header value";
      return false;
    }
  }
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    value.remove_suffix(1);
  }
  if (iequals(name, "transfer-encoding")) {
    why = "CONNECT with Transfer-Encoding";
    return false;
  }
  if (iequals(name, "content-length")) {
    if (value.empty()) {
      why = "bad Content-Length";
      return false;
    }
    for (char c : value) {
      if (c != '0') {
        why = "CONNECT with a body";
        return false;
      }
    }
  }
  return true;
}

}  // namespace

bool looks_like_connect(std::string_view first_bytes) noexcept {
  return first_bytes.size() >= kMethod.size() + 1 &&
         first_bytes.substr(0, kMethod.size()) == kMethod && first_bytes[kMethod.size()] == ' ';
}

ConnectRequest parse_connect(std::string_view bytes, std::size_t max_head) {
  ConnectRequest out;
  std::size_t pos = 0;
  std::size_t fields = 0;
  bool first = true;
  while (true) {
    // Find the end of the current line: CRLF only; a bare CR or LF is an error.
    std::size_t eol = pos;
    while (eol < bytes.size() && bytes[eol] != '\r' && bytes[eol] != '\n') {
      ++eol;
    }
    const std::string_view line = bytes.substr(pos, eol - pos);
    if (first) {
      if (auto bad = check_method(line)) {
        return *std::move(bad);
      }
    }
    if (eol < bytes.size() && bytes[eol] == '\n') {
      return fail(400, "bare LF");
    }
    if (eol + 1 < bytes.size() && bytes[eol + 1] != '\n') {
      return fail(400, "bare CR");
    }
    if (eol + 1 >= bytes.size()) {
      // The line is not complete yet; any completion ends past bytes.size().
      if (bytes.size() >= max_head) {
        return fail(431, "request head too large");
      }
      out.state = State::need_more;
      return out;
    }
    const std::size_t next = eol + 2;
    if (next > max_head) {
      return fail(431, "request head too large");
    }
    std::string why;
    if (first) {
      if (!parse_request_line(line, out, why)) {
        return fail(400, std::move(why));
      }
      first = false;
    } else if (line.empty()) {
      out.state = State::ok;
      out.consumed = next;
      return out;
    } else {
      if (++fields > kMaxConnectFields) {
        return fail(431, "too many header fields");
      }
      if (!parse_field(line, why)) {
        return fail(400, std::move(why));
      }
    }
    pos = next;
  }
}

}  // namespace portcullis::gateway::egress
