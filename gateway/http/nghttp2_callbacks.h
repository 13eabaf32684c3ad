// The callback builder shared by Http2Session and Http2Client: an engine registers its own member
// functions, and the C trampolines nghttp2 calls are generated here, each one running the member
// under h2::callback (callback_guard.h: one exception policy for every callback).
//
// Thread:   the engine's worker loop.
// Members:  may throw; they get what the callback carries, without the session and user-data
//           pointers (the session is the engine's own, the user data is the engine):
//   frame callbacks (begin headers, frame recv/send): int (const nghttp2_frame*)
//   begin frame: int (const nghttp2_frame_hd*)
//   header and invalid header: int (const nghttp2_frame*, string_view name, string_view value)
//   data chunk: int (int32_t stream_id, const uint8_t* data, size_t len)
//   frame not sent: int (const nghttp2_frame*, int error)
//   stream close: int (int32_t stream_id, uint32_t error_code)
//   data source read: ssize_t (void* source, uint8_t* buf, size_t length, uint32_t* data_flags)
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>

#include "gateway/http/nghttp2_glue.h"

namespace portcullis::gateway::http::h2 {

// The C entry points nghttp2 calls, one per callback type: each finds the engine in the user
// data and runs member M under h2::callback. Callback types with the same C signature (frame
// received / sent, begin headers) share one.
template <class Self, class Cb>
struct Trampoline;

template <class Self>
struct Trampoline<Self, int (*)(nghttp2_session*, const nghttp2_frame*, void*)> {
  template <auto M>
  static int fn(nghttp2_session*, const nghttp2_frame* f, void* ud) noexcept {
    return callback<Self>(ud, [&](Self& s) { return (s.*M)(f); });
  }
};
template <class Self>
struct Trampoline<Self, int (*)(nghttp2_session*, const nghttp2_frame_hd*, void*)> {
  template <auto M>
  static int fn(nghttp2_session*, const nghttp2_frame_hd* hd, void* ud) noexcept {
    return callback<Self>(ud, [&](Self& s) { return (s.*M)(hd); });
  }
};
template <class Self>
struct Trampoline<Self, nghttp2_on_header_callback> {
  template <auto M>
  static int fn(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name,
                std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                std::uint8_t, void* ud) noexcept {
    return callback<Self>(
        ud, [&](Self& s) { return (s.*M)(f, as_view(name, namelen), as_view(value, valuelen)); });
  }
};
template <class Self>
struct Trampoline<Self, nghttp2_on_data_chunk_recv_callback> {
  template <auto M>
  static int fn(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                std::size_t len, void* ud) noexcept {
    return callback<Self>(ud, [&](Self& s) { return (s.*M)(stream_id, data, len); });
  }
};
template <class Self>
struct Trampoline<Self, nghttp2_on_frame_not_send_callback> {
  template <auto M>
  static int fn(nghttp2_session*, const nghttp2_frame* f, int error, void* ud) noexcept {
    return callback<Self>(ud, [&](Self& s) { return (s.*M)(f, error); });
  }
};
template <class Self>
struct Trampoline<Self, nghttp2_on_stream_close_callback> {
  template <auto M>
  static int fn(nghttp2_session*, std::int32_t id, std::uint32_t code, void* ud) noexcept {
    return callback<Self>(ud, [&](Self& s) { return (s.*M)(id, code); });
  }
};
template <class Self>
struct Trampoline<Self, nghttp2_data_source_read_callback> {
  template <auto M>
  static ssize_t fn(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                    std::uint32_t* data_flags, nghttp2_data_source* src, void* ud) noexcept {
    return callback<Self>(
        ud, [&](Self& s) -> ssize_t { return (s.*M)(src->ptr, buf, length, data_flags); });
  }
};

// Registers engine members as callbacks:
//   b.on<&Engine::on_header>(nghttp2_session_callbacks_set_on_header_callback)
template <class Self>
class CallbackBuilder : public SessionBuilder {
 public:
  template <auto M, class Cb>
  CallbackBuilder& on(void (*set)(nghttp2_session_callbacks*, Cb)) noexcept {
    if (ok()) {
      set(callbacks(), &Trampoline<Self, Cb>::template fn<M>);
    }
    return *this;
  }
};

// A data provider over `source` whose reads go to the engine member M (read_data above), under
// the same guard. nghttp2 passes the session's user data (the engine) to every read.
template <class Self, auto M>
nghttp2_data_provider data_provider(void* source) noexcept {
  nghttp2_data_provider prov{};
  prov.source.ptr = source;
  prov.read_callback = &Trampoline<Self, nghttp2_data_source_read_callback>::template fn<M>;
  return prov;
}

}  // namespace portcullis::gateway::http::h2
