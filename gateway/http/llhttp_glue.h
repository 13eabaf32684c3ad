// llhttp plumbing shared by Http1Session (requests) and Http1Client (responses).
//
// Thread:   the engine's worker loop.
// Each engine keeps its own static settings table (llhttp only reads it, so an idle connection
// does not carry a copy); the parts that would otherwise be copied between them live here.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <utility>

#include "gateway/http/callback_guard.h"

namespace portcullis::gateway::http::h1 {

// Every llhttp callback: runs fn(engine) under guard() (callback_guard.h), the engine being
// parser->data. A throw becomes HPE_USER, which llhttp_execute() reports as a parse error.
template <class Self, class Fn>
int callback(llhttp_t* p, Fn&& fn) noexcept {
  return guard<int>(*static_cast<Self*>(p->data), static_cast<int>(HPE_USER),
                    std::forward<Fn>(fn));
}

// Starts `parser` strict (no lenient flags) in `type` mode, calling back into `self`.
template <class Self>
void start_parser(llhttp_t& parser, llhttp_type_t type, const llhttp_settings_t& settings,
                  Self* self) noexcept {
  llhttp_init(&parser, type, &settings);
  parser.data = self;
}

// Both engines pause the parser at every message end (on_message_complete returns HPE_PAUSED).
struct Executed {
  llhttp_errno_t err;
  std::size_t used;  // bytes of the input consumed (all of it unless paused)
};

// Runs llhttp over [data, data+len). After a pause, `used` counts the bytes that belong to the
// finished message; the caller resumes the parser when it is ready for the next one.
inline Executed execute(llhttp_t& parser, const char* data, std::size_t len) noexcept {
  const llhttp_errno_t err = llhttp_execute(&parser, data, len);
  if (err != HPE_PAUSED) {
    return {err, len};
  }
  const char* pos = llhttp_get_error_pos(&parser);
  const std::size_t used = pos != nullptr ? static_cast<std::size_t>(pos - data) : len;
  return {err, used < len ? used : len};
}

}  // namespace portcullis::gateway::http::h1
