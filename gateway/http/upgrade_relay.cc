// Upgrade relay (see upgrade_relay.h).
#include "gateway/http/upgrade_relay.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>

namespace portcullis::gateway::http::upgrade {

std::size_t FrameCursor::advance(std::string_view bytes, bool stop_at_end) noexcept {
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (remaining_ > 0) {
      const std::size_t take =
          static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size() - i));
      i += take;
      remaining_ -= take;
      if (remaining_ == 0 && stop_at_end) {
        return i;
      }
      continue;
    }
    head_[have_++] = static_cast<std::uint8_t>(bytes[i++]);
    if (have_ < 2) {
      continue;
    }
    const unsigned len7 = head_[1] & 0x7fu;
    const std::size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    const std::size_t need = 2 + ext + ((head_[1] & 0x80u) != 0 ? 4 : 0);
    if (have_ < need) {
      continue;
    }
    std::uint64_t len = len7;
    if (ext > 0) {
      len = 0;
      for (std::size_t k = 0; k < ext; ++k) {
        len = (len << 8) | head_[2 + k];
      }
    }
    have_ = 0;
    remaining_ = len;
    if (remaining_ == 0 && stop_at_end) {
      return i;
    }
  }
  return i;
}

bool ClientRelay::relay(Exchange& ex, std::string_view bytes) noexcept {
  if (closed_ || bytes.empty() || ex.request_body().eof()) {
    return true;
  }
  std::size_t n = bytes.size();
  if (going_away_) {
    n = cursor_.at_boundary() ? 0 : cursor_.advance(bytes, /*stop_at_end=*/true);
  } else {
    cursor_.advance(bytes, false);
  }
  try {
    ex.request_body().append(bytes.substr(0, n));
  } catch (...) {
    return false;
  }
  ex.info().bytes_in += n;
  if (going_away_ && cursor_.at_boundary()) {
    return close_upstream(ex);
  }
  ex.request_body_added();
  return true;
}

bool ClientRelay::going_away(Exchange& ex) noexcept {
  if (going_away_ || closed_ || ex.request_body().eof()) {
    return true;
  }
  going_away_ = true;
  if (ex.info().reason == Reason::none) {
    ex.info().reason = Reason::draining;  // the access line says who closed it
  }
  return cursor_.at_boundary() ? close_upstream(ex) : true;
}

bool ClientRelay::close_upstream(Exchange& ex) noexcept {
  closed_ = true;
  // A client frame, so masked (RFC 6455 5.3): FIN+close, 12 bytes: code 1001, "going away".
  static constexpr std::string_view kPayload{"\x03\xe9going away", 12};
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uint8_t mask[4];
  for (auto& m : mask) {
    m = static_cast<std::uint8_t>(rng());
  }
  std::string frame;
  try {
    frame.reserve(2 + 4 + kPayload.size());
    frame += static_cast<char>(0x88);
    frame += static_cast<char>(0x80 | kPayload.size());
    frame.append(reinterpret_cast<const char*>(mask), 4);
    for (std::size_t i = 0; i < kPayload.size(); ++i) {
      frame += static_cast<char>(static_cast<std::uint8_t>(kPayload[i]) ^ mask[i % 4]);
    }
    ex.request_body().append(frame);
  } catch (...) {
    return false;
  }
  ex.request_body_added();
  return true;
}

bool websocket_open(Exchange& ex) noexcept {
  return ex.request().upgrade == kWebSocket && ex.response_started() &&
         (ex.response().status == 101 || ex.response().status == 200);
}

std::string websocket_key() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  thread_local std::mt19937 rng{std::random_device{}()};
  std::array<std::uint8_t, 18> raw{};  // 16 random bytes, two zero pad bytes
  for (std::size_t i = 0; i < 16; ++i) {
    raw[i] = static_cast<std::uint8_t>(rng());
  }
  std::string out;
  out.reserve(24);
  for (std::size_t i = 0; i < raw.size(); i += 3) {
    const std::uint32_t v = (raw[i] << 16) | (raw[i + 1] << 8) | raw[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  out.resize(22);
  out += "==";
  return out;
}

bool asks_other_upgrade(const Headers& fields) {
  bool connection_upgrade = false;
  bool upgrade = false;
  bool websocket = false;
  for (const Header& f : fields) {
    if (iequals_ascii(f.name, "connection")) {
      for (const std::string& tok : connection_tokens(f.value)) {
        connection_upgrade = connection_upgrade || tok == "upgrade";
      }
    } else if (iequals_ascii(f.name, "upgrade")) {
      upgrade = true;
      for (const std::string& tok : connection_tokens(f.value)) {  // same list syntax
        websocket = websocket || tok == kWebSocket;
      }
    }
  }
  return connection_upgrade && upgrade && !websocket;
}

void extended_connect_to_handshake(RequestHead& head) {
  head.method = "GET";
  head.upgrade = std::string(kWebSocket);
  head.has_body = true;  // the client's side of the stream
  head.content_length.reset();
  remove_header(head.headers, "sec-websocket-key");
  head.headers.push_back(Header{"sec-websocket-key", websocket_key()});
  if (find_header(head.headers, "sec-websocket-version") == nullptr) {
    head.headers.push_back(Header{"sec-websocket-version", "13"});
  }
}

void handshake_answer_for_h2(ResponseHead& r) {
  if (r.status >= 200 && r.status < 300) {
    // Not a WebSocket server (it answered the GET): a 2xx would tell the HTTP/2 client its
    // stream is open (RFC 8441 5).
    r.status = 502;
    return;
  }
  if (r.status != 101) {
    return;
  }
  r.status = 200;
  remove_header(r.headers, "sec-websocket-accept");
  r.content_length.reset();
  r.has_body = true;
}

}  // namespace portcullis::gateway::http::upgrade
