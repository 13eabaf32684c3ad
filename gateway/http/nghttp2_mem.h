// The nghttp2_mem every HTTP/2 session (server and client) allocates through.
//
// Why: nghttp2 1.52 allocates a 16 KiB frame buffer per session at creation and keeps it for
// the session's life. From malloc it is usually carved out of heap memory that an earlier TLS
// handshake already touched (OpenSSL's 17 KiB record buffers come and go in the same sizes),
// so all of it counts in RSS even though an idle session writes only its first page. Blocks
// of kMinPooled..kSlotBytes bytes therefore come from slots of one reserved, never-touched
// anonymous mapping: only the pages nghttp2 writes become resident, and a freed slot's pages
// go back to the kernel (MADV_DONTNEED) before the slot is reused, so a new session's buffer
// starts untouched again. Everything else is malloc. When the mapping cannot be reserved (an
// address-space limit, overcommit 2) or all slots are taken, every block is malloc.
//
// An idle session's frame buffer holds nothing (nghttp2 copies each frame out through
// nghttp2_session_mem_send and rewrites the buffer before the next one), yet the pages a
// SETTINGS or a response wrote stay resident: release_frame_buffer() gives them back while
// the session is idle, and the next frame gets zero pages.
//
// Thread:   any; the slot list is under a mutex (taken only for the large blocks, which a
//           session allocates at creation and when a frame outgrows its buffer).
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>

namespace portcullis::gateway::http::h2 {

// Pooled block sizes: the frame buffer (NGHTTP2_FRAMEBUF_CHUNKLEN, 16394 bytes), the stream
// map (4 KiB, calloc: from a slot it stays untouched until streams arrive), larger HPACK
// buffers. Smaller blocks would cost a whole page each once written: malloc packs them.
inline constexpr std::size_t kMinPooled = 4096;
inline constexpr std::size_t kSlotBytes = 20 * 1024;

// nghttp2's frame buffer chunk (NGHTTP2_FRAMEBUF_CHUNKLEN: 9-byte header, 1 pad-length byte,
// 16384 payload bytes; the constant is internal to the library).
inline constexpr std::size_t kFrameBufferBytes = 16394;

// Where one session's frame buffer lives; the allocator fills it in. Must outlive the session.
struct FrameBufferTag {
  void* block = nullptr;  // null: not pooled (or freed)
};

// Pass to nghttp2_session_{server,client}_new3 (nghttp2 copies it). With a tag, the first
// frame-buffer-sized block the session allocates is recorded there.
nghttp2_mem session_mem(FrameBufferTag* tag = nullptr) noexcept;

// Returns the frame buffer's pages to the kernel. Only while nghttp2 has nothing to send
// (nghttp2_session_want_write() == 0): then no frame is being built in it.
void release_frame_buffer(const FrameBufferTag& tag) noexcept;

// For tests and the bench: slots handed out and not yet freed, and whether the mapping exists.
struct SlotStats {
  std::size_t in_use = 0;
  std::size_t capacity = 0;  // 0: no mapping, everything is malloc
};
SlotStats slot_stats() noexcept;
std::uint64_t frame_buffer_releases() noexcept;  // release_frame_buffer calls that released
bool pooled(const void* p) noexcept;

}  // namespace portcullis::gateway::http::h2
