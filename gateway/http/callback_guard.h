// One exception policy for every C callback the HTTP engines hand to llhttp and nghttp2.
//
// Thread:   the engine's worker loop.
// Policy:   no exception may unwind through C. Every callback body runs inside guard(): if it
//           throws (in practice std::bad_alloc), the engine's callback_failed() records that the
//           stream or connection is broken, and the library gets its own "callback failed" code
//           back, which it turns into a parse error (llhttp) or a fatal session error (nghttp2).
//           The engine then fails the exchange or closes the connection as for a protocol error.
#pragma once

#include <utility>

namespace portcullis::gateway::http {

// Runs fn(self); on any exception calls self.callback_failed() and returns `failure`.
// Self::callback_failed() must be noexcept.
template <class R, class Self, class Fn>
R guard(Self& self, R failure, Fn&& fn) noexcept {
  static_assert(noexcept(self.callback_failed()), "callback_failed() must not throw");
  try {
    return static_cast<R>(std::forward<Fn>(fn)(self));
  } catch (...) {
    self.callback_failed();
    return failure;
  }
}

}  // namespace portcullis::gateway::http
