// HTTP/1.1 wire helpers shared by Http1Session and Http1Client (declared in http1_session.h).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "gateway/http/http1_session.h"

namespace portcullis::gateway::http {
namespace {

// Body bytes reserved behind a response head: what fits one TLS record beside it.
constexpr std::uint64_t kHeadBodyReserve = 16 * 1024;

}  // namespace

std::string_view status_reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

void append_body_piece(std::string& out, std::string_view bytes, bool chunked) {
  if (!chunked) {
    out.append(bytes);
    return;
  }
  char size_line[32];
  const int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", bytes.size());
  out.append(size_line, static_cast<std::size_t>(len));
  out.append(bytes);
  out += "\r\n";
}

void write_response_head(std::string& out, const ResponseHead& r, ResponseFraming& f) {
  const int status = r.status;
  if (status == 101 && !f.upgrade.empty()) {
    // Switching protocols: the "body" is the upstream's side of the byte stream, unframed.
    f.body_allowed = true;
    f.chunked = false;
    f.close_delimited = true;
    f.close = true;
    out += "HTTP/1.1 101 Switching Protocols\r\nupgrade: ";
    out += f.upgrade;
    out += "\r\nconnection: upgrade\r\n";
    for (const Header& h : r.headers) {
      if (!is_hop_by_hop(h.name) && h.name != "content-length") {
        out += h.name;
        out += ": ";
        out += h.value;
        out += "\r\n";
      }
    }
    out += "\r\n";
    return;
  }
  const bool bodyless_status = (status >= 100 && status < 200) || status == 204 || status == 304;
  f.body_allowed = !f.head_request && !bodyless_status && r.has_body;
  f.chunked = false;
  f.close_delimited = false;
  // One allocation for the head and the body that follows it in the same buffer (callgrind:
  // four string growths per response before, each a malloc and a copy of what was written).
  std::size_t need = out.size() + 128;  // status line, framing headers, blank line
  for (const Header& h : r.headers) {
    need += h.name.size() + h.value.size() + 4;
  }
  if (f.body_allowed && r.content_length) {
    need += static_cast<std::size_t>(std::min<std::uint64_t>(*r.content_length, kHeadBodyReserve));
  }
  out.reserve(need);
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += status_reason_phrase(status);
  out += "\r\n";
  for (const Header& h : r.headers) {
    if (is_hop_by_hop(h.name) || h.name == "content-length") {
      continue;
    }
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  if (!bodyless_status) {
    if (r.content_length) {
      out += "content-length: ";
      out += std::to_string(*r.content_length);
      out += "\r\n";
    } else if (f.body_allowed) {
      if (f.http10) {
        f.close_delimited = true;
        f.close = true;
      } else {
        f.chunked = true;
        out += "transfer-encoding: chunked\r\n";
      }
    }
  }
  if (f.close) {
    out += "connection: close\r\n";
  } else if (f.http10) {
    out += "connection: keep-alive\r\n";
  }
  out += "\r\n";
}

void append_error_response(std::string& out, int status, std::string_view line) {
  std::string body(line);
  body.push_back('\n');
  out += "HTTP/1.1 " + std::to_string(status) + " " + std::string(status_reason_phrase(status)) +
         "\r\ncontent-type: text/plain\r\ncontent-length: " + std::to_string(body.size()) +
         "\r\nconnection: close\r\n\r\n" + body;
}

void append_last_chunk(std::string& out, const Headers& trailers) {
  if (trailers.empty()) {
    out += kLastChunk;
    return;
  }
  out += "0\r\n";
  for (const Header& t : trailers) {
    out += t.name;
    out += ": ";
    out += t.value;
    out += "\r\n";
  }
  out += "\r\n";
}

}  // namespace portcullis::gateway::http
