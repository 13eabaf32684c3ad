// build_request (see http1_request_head.h).
#include "gateway/http/http1_request_head.h"
#include "routing/authority.h"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis::gateway::http::h1 {

namespace {

std::string_view trim_ows(std::string_view v) noexcept {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
    v.remove_prefix(1);
  }
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
    v.remove_suffix(1);
  }
  return v;
}

// request-target bytes: visible ASCII, no fragment.
bool valid_target(std::string_view t) noexcept {
  if (t.empty()) {
    return false;
  }
  for (char ch : t) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F || c == '#') {
      return false;
    }
  }
  return true;
}

// uri-host [":" port]: reg-name / IPv4 / IP-literal characters only, and brackets only around
// an IPv6 literal (routing::parse_authority: the rule egress destinations follow too).
bool valid_authority(std::string_view a) noexcept {
  if (a.empty() || !routing::parse_authority(a, routing::HostRule::any)) {
    return false;
  }
  for (char c : a) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!ok) {
      switch (c) {
        case '-': case '.': case '_': case '~': case '!': case '$': case '&': case '\'':
        case '(': case ')': case '*': case '+': case ',': case ';': case '=': case ':':
        case '%': case '[': case ']':
          ok = true;
          break;
        default:
          break;
      }
    }
    if (!ok) {
      return false;
    }
  }
  return true;
}

BuiltRequest refuse(const char* line) {
  BuiltRequest r;
  r.error = line;
  return r;
}

// Request target: origin-form, "*" (OPTIONS) or absolute-form (authority into `authority`).
const char* parse_target(const std::string& url, const std::string& method, RequestHead& head,
                         std::string& authority, bool& absolute) {
  if (url.front() == '/') {
    head.path = url;
    return nullptr;
  }
  if (url == "*") {
    if (method != "OPTIONS") {
      return "invalid request target";
    }
    head.path = "*";
    return nullptr;
  }
  std::size_t colon = url.find("://");
  if (colon == std::string::npos) {
    return "invalid request target";
  }
  std::string scheme = to_lower_ascii(std::string_view(url).substr(0, colon));
  if (scheme != "http" && scheme != "https") {
    return "invalid request target";
  }
  std::string_view rest = std::string_view(url).substr(colon + 3);
  std::size_t end = rest.find_first_of("/?");
  std::string_view auth = rest.substr(0, end);
  if (!valid_authority(auth) || auth.find('@') != std::string_view::npos) {
    return "invalid request target";
  }
  authority = std::string(auth);
  absolute = true;
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (path.empty()) {
    head.path = "/";
  } else if (path.front() == '?') {
    head.path = "/" + std::string(path);
  } else {
    head.path = std::string(path);
  }
  return nullptr;
}

}  // namespace

BuiltRequest build_request(RawRequest& raw, const std::string& scheme) {
  if (raw.http_major != 1 || raw.http_minor > 1) {
    return refuse("unsupported HTTP version");
  }
  BuiltRequest out;
  out.http11 = raw.http_minor == 1;
  const std::string& method = raw.method;
  if (method.empty() || !std::all_of(method.begin(), method.end(), is_token_char)) {
    return refuse("invalid method");
  }
  if (raw.connect) {
    return refuse("CONNECT is not supported");
  }
  if (!valid_target(raw.url)) {
    return refuse("invalid request target");
  }
  RequestHead& head = out.head;
  head.method = method;
  head.scheme = scheme;
  std::string abs_authority;
  bool absolute = false;
  if (const char* err = parse_target(raw.url, method, head, abs_authority, absolute)) {
    return refuse(err);
  }

  // Fields.
  int host_count = 0;
  int te_count = 0;
  std::string host;
  std::string te;
  std::vector<std::string> connection_tokens;
  int upgrade_count = 0;
  std::string upgrade;
  for (Header& f : raw.fields) {
    if (f.name.empty() || !std::all_of(f.name.begin(), f.name.end(), is_token_char)) {
      return refuse("invalid header field name");
    }
    if (!valid_field_value(f.value)) {
      return refuse("invalid header field value");
    }
    f.name = to_lower_ascii(f.name);
    std::string_view v = trim_ows(f.value);
    if (v.size() != f.value.size()) {
      f.value = std::string(v);
    }
    if (f.name == "host") {
      ++host_count;
      host = f.value;
    } else if (f.name == "transfer-encoding") {
      ++te_count;
      te = f.value;
    } else if (f.name == "connection") {
      for (std::string& tok : http::connection_tokens(f.value)) {
        connection_tokens.push_back(std::move(tok));
      }
    } else if (f.name == "upgrade") {
      ++upgrade_count;
      upgrade = f.value;
    } else if (f.name == "expect") {
      if (iequals_ascii(f.value, "100-continue")) {
        out.expect_continue = true;
      }
    }
  }
  if (host_count > 1) {
    return refuse("several Host fields");
  }
  if (host_count == 0 && out.http11) {
    return refuse("missing Host");
  }
  if (host_count == 1 && !host.empty() && !valid_authority(host)) {
    return refuse("invalid Host");
  }
  if (te_count > 0) {
    if (te_count > 1 || !iequals_ascii(te, "chunked") || raw.has_content_length) {
      return refuse("invalid Transfer-Encoding");
    }
    if (!out.http11) {
      return refuse("Transfer-Encoding in HTTP/1.0");
    }
  }
  out.chunked = te_count == 1;
  head.authority = absolute ? abs_authority : host;

  head.headers.reserve(raw.fields.size() + 6);  // + the forwarding headers apply_forwarding adds
  for (Header& f : raw.fields) {
    if (is_hop_by_hop(f.name) || f.name == "host" || f.name == "content-length" ||
        is_owned_field_alias(f.name)) {
      continue;
    }
    if (out.expect_continue && f.name == "expect") {
      continue;
    }
    if (std::find(connection_tokens.begin(), connection_tokens.end(), f.name) !=
        connection_tokens.end()) {
      continue;
    }
    head.headers.push_back(Header{std::move(f.name), std::move(f.value)});
  }
  raw.fields.clear();

  if (out.chunked) {
    head.has_body = true;
  } else if (raw.has_content_length) {
    head.content_length = raw.content_length;
    head.has_body = raw.content_length > 0;
  }
  // RFC 6455 4.1: a WebSocket opening handshake is a bodiless HTTP/1.1 GET with
  // "Upgrade: websocket" and the "upgrade" Connection option. Anything else with an Upgrade
  // field is served as plain HTTP (RFC 9110 7.8: the server may ignore Upgrade).
  if (upgrade_count == 1 && iequals_ascii(upgrade, "websocket") && out.http11 &&
      head.method == "GET" && !head.has_body &&
      std::find(connection_tokens.begin(), connection_tokens.end(), "upgrade") !=
          connection_tokens.end()) {
    head.upgrade = "websocket";
    head.has_body = true;  // the client's side of the stream, after the 101
    head.content_length.reset();
  }
  return out;
}

const char* build_trailers(Headers& raw, Headers& out) {
  for (Header& f : raw) {
    if (f.name.empty() || !std::all_of(f.name.begin(), f.name.end(), is_token_char)) {
      return "invalid trailer field name";
    }
    if (!valid_field_value(f.value)) {
      return "invalid trailer field value";
    }
    f.name = to_lower_ascii(f.name);
    if (!forwardable_trailer(f.name)) {
      continue;
    }
    out.push_back(Header{std::move(f.name), std::string(trim_ows(f.value))});
  }
  raw.clear();
  return nullptr;
}

}  // namespace portcullis::gateway::http::h1
