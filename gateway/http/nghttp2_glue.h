// nghttp2 plumbing shared by Http2Session (server) and Http2Client (client).
//
// Thread:   the engine's worker loop.
// Owns:     SessionPtr owns an nghttp2_session; SessionBuilder owns the callbacks and option
//           objects only while a session is being created.
#pragma once

#include <nghttp2/nghttp2.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "gateway/http/callback_guard.h"
#include "gateway/http/exchange.h"
#include "gateway/http/message.h"
#include "gateway/http/nghttp2_mem.h"

namespace portcullis::gateway::http::h2 {

struct SessionDeleter {
  void operator()(nghttp2_session* s) const noexcept { nghttp2_session_del(s); }
};
using SessionPtr = std::unique_ptr<nghttp2_session, SessionDeleter>;

// Collects callbacks and options, then creates the session. ok() is false when nghttp2 could
// not allocate them; server()/client() then return null.
class SessionBuilder {
 public:
  SessionBuilder() noexcept;
  ~SessionBuilder();
  SessionBuilder(const SessionBuilder&) = delete;
  SessionBuilder& operator=(const SessionBuilder&) = delete;

  bool ok() const noexcept { return cbs_ != nullptr && opt_ != nullptr; }
  nghttp2_session_callbacks* callbacks() noexcept { return cbs_; }
  nghttp2_option* option() noexcept { return opt_; }

  // Sessions allocate through session_mem() (nghttp2_mem.h); `tag`, when given, learns where
  // the frame buffer is (release_frame_buffer) and must outlive the session.
  SessionPtr server(void* user_data, FrameBufferTag* tag = nullptr) noexcept;
  SessionPtr client(void* user_data) noexcept;

 private:
  nghttp2_session_callbacks* cbs_ = nullptr;
  nghttp2_option* opt_ = nullptr;
};

// Every nghttp2 callback: runs fn(engine) under guard() (callback_guard.h), the engine being the
// session's user data. A throw becomes NGHTTP2_ERR_CALLBACK_FAILURE, which nghttp2 treats as a
// fatal session error (mem_recv / mem_send fail, and the engine closes the connection).
template <class Self, class Fn>
auto callback(void* user_data, Fn&& fn) noexcept {
  using R = std::invoke_result_t<Fn&, Self&>;
  return guard<R>(*static_cast<Self*>(user_data), static_cast<R>(NGHTTP2_ERR_CALLBACK_FAILURE),
                  std::forward<Fn>(fn));
}

// ---- header helpers ----

inline std::string_view as_view(const std::uint8_t* p, std::size_t n) noexcept {
  return std::string_view(reinterpret_cast<const char*>(p), n);
}

inline bool is_pseudo(std::string_view name) noexcept { return !name.empty() && name[0] == ':'; }

// The whole of `v` as a decimal number (content-length, :status).
template <class T>
bool parse_decimal(std::string_view v, T& out) noexcept {
  T n{};
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) {
    return false;
  }
  out = n;
  return true;
}

// The fields of one HEADERS frame. It points into the strings it is given (and holds the
// numbers it formats), so it must not outlive them; nghttp2_submit_* copies it.
class NvList {
 public:
  explicit NvList(std::size_t fields) { nva_.reserve(fields + 6); }
  NvList(const NvList&) = delete;
  NvList& operator=(const NvList&) = delete;

  void add(std::string_view name, std::string_view value);
  void add_status(int status);
  void add_content_length(std::uint64_t n);
  // The forwardable fields of a head: pseudo-headers, content-length (framing is ours to write)
  // and hop-by-hop fields are left out (but "te: trailers", the one TE HTTP/2 allows, which
  // gRPC servers require); so is host when `drop_host` (:authority carries it).
  void add_fields(const Headers& fields, bool drop_host);

  const nghttp2_nv* data() const noexcept { return nva_.data(); }
  std::size_t size() const noexcept { return nva_.size(); }

 private:
  std::vector<nghttp2_nv> nva_;
  std::string status_;
  std::string length_;
};

// ---- session helpers ----

// Submits our SETTINGS frame; 0 or an nghttp2 error.
int submit_settings(nghttp2_session* s, std::initializer_list<nghttp2_settings_entry> iv) noexcept;

// Bytes from the peer; negative: nghttp2's error (the session is unusable).
ssize_t receive(nghttp2_session* s, std::string_view bytes) noexcept;

// Appends pending frames to `out`, about `max` bytes at most. False: nghttp2 failed and
// nothing more can be sent.
bool send_into(nghttp2_session* s, std::string& out, std::size_t max) noexcept;

// A data provider's read: copies what `body` holds into nghttp2's buffer and consumes it.
// Returns the byte count (EOF flagged once the body is finished), or NGHTTP2_ERR_DEFERRED with
// `deferred` set when there is nothing yet (resume with nghttp2_session_resume_data).
ssize_t read_body(BodyBuffer& body, std::uint8_t* buf, std::size_t length,
                  std::uint32_t* data_flags, bool& deferred) noexcept;

// Flow control with automatic WINDOW_UPDATE off: `unconsumed` counts a stream's received bytes
// that its reader has not taken yet. consume() opens the window by up to n of them (returns
// false when there was nothing to open); release() gives all of them back to the connection
// window once nobody will read them.
bool consume(nghttp2_session* s, std::int32_t stream_id, std::size_t& unconsumed,
             std::size_t n) noexcept;
void release(nghttp2_session* s, std::size_t& unconsumed) noexcept;

}  // namespace portcullis::gateway::http::h2
