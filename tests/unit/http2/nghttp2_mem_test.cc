// nghttp2_mem.h: large nghttp2 blocks from untouched slots (only written pages are resident),
// zeroed on reuse, and an idle session's frame buffer given back to the kernel. Residency is
// read with mincore(), so these tests see the pages themselves, not the allocator's books.
#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "gateway/http/nghttp2_callbacks.h"
#include "gateway/http/nghttp2_glue.h"
#include "gateway/http/nghttp2_mem.h"
#include "tests/unit/http2/harness.h"

namespace h2m = portcullis::gateway::http::h2;

namespace {

// Resident pages of the slot that starts at p (slots are page-aligned).
std::size_t resident_pages(const void* p) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec(h2m::kSlotBytes / page);
  REQUIRE(mincore(const_cast<void*>(p), h2m::kSlotBytes, vec.data()) == 0);
  std::size_t n = 0;
  for (unsigned char v : vec) {
    n += v & 1u;
  }
  return n;
}

bool pool_enabled() { return h2m::slot_stats().capacity > 0; }

struct Quiet {
  int on_frame_recv(const nghttp2_frame*) { return 0; }
  void callback_failed() noexcept {}
};

}  // namespace

TEST_CASE("h2 memory: large blocks come from untouched slots and return zeroed",
          "[http][h2][mem]") {
  nghttp2_mem m = h2m::session_mem();
  void* small = m.malloc(100, m.mem_user_data);
  void* huge = m.malloc(64 * 1024, m.mem_user_data);
  CHECK_FALSE(h2m::pooled(small));
  CHECK_FALSE(h2m::pooled(huge));
  m.free(small, m.mem_user_data);
  m.free(huge, m.mem_user_data);
  if (!pool_enabled()) {
    WARN("no slot mapping (AddressSanitizer build): every block is malloc");
    void* p = m.malloc(h2m::kFrameBufferBytes, m.mem_user_data);
    CHECK_FALSE(h2m::pooled(p));
    m.free(p, m.mem_user_data);
    return;
  }
  const std::size_t in_use = h2m::slot_stats().in_use;
  auto* p = static_cast<unsigned char*>(m.malloc(h2m::kFrameBufferBytes, m.mem_user_data));
  REQUIRE(h2m::pooled(p));
  CHECK(h2m::slot_stats().in_use == in_use + 1);
  std::memset(p, 0xab, 10);
  CHECK(resident_pages(p) == 1);  // what was written, not the 16 KiB asked for
  std::memset(p, 0xab, h2m::kFrameBufferBytes);
  CHECK(resident_pages(p) == 5);
  m.free(p, m.mem_user_data);
  CHECK(h2m::slot_stats().in_use == in_use);
  CHECK(resident_pages(p) == 0);  // given back to the kernel on free

  // The freed slot is reused (last in, first out) as calloc memory: zero, and still untouched.
  auto* q = static_cast<unsigned char*>(m.calloc(4, 2048, m.mem_user_data));
  REQUIRE(q == p);
  CHECK(resident_pages(q) == 0);
  bool zero = true;
  for (std::size_t i = 0; i < 8192; ++i) {
    zero = zero && q[i] == 0;
  }
  CHECK(zero);

  // Growing past a slot moves the block to malloc with its contents.
  std::memcpy(q, "frame", 5);
  auto* r = static_cast<unsigned char*>(m.realloc(q, 40000, m.mem_user_data));
  REQUIRE(r != nullptr);
  CHECK_FALSE(h2m::pooled(r));
  CHECK(std::memcmp(r, "frame", 5) == 0);
  CHECK(h2m::slot_stats().in_use == in_use);
  m.free(r, m.mem_user_data);
}

TEST_CASE("h2 memory: a server's frame buffer is found, released while idle, and freed with it",
          "[http][h2][mem]") {
  Quiet server_side;
  Quiet client_side;
  h2m::FrameBufferTag tag;
  h2m::CallbackBuilder<Quiet> sb;
  sb.on<&Quiet::on_frame_recv>(nghttp2_session_callbacks_set_on_frame_recv_callback);
  h2m::SessionPtr server = sb.server(&server_side, &tag);
  h2m::CallbackBuilder<Quiet> cb;
  cb.on<&Quiet::on_frame_recv>(nghttp2_session_callbacks_set_on_frame_recv_callback);
  h2m::SessionPtr client = cb.client(&client_side);
  REQUIRE(server != nullptr);
  REQUIRE(client != nullptr);
  if (!pool_enabled()) {
    CHECK(tag.block == nullptr);
    return;
  }
  REQUIRE(tag.block != nullptr);
  CHECK(h2m::pooled(tag.block));

  std::string c2s;
  std::string s2c;
  REQUIRE(h2m::submit_settings(client.get(), {}) == 0);
  REQUIRE(h2m::send_into(client.get(), c2s, 1 << 16));
  REQUIRE(h2m::receive(server.get(), c2s) == static_cast<ssize_t>(c2s.size()));
  REQUIRE(nghttp2_session_want_read(server.get()) != 0);
  REQUIRE(h2m::submit_settings(server.get(), {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 10}}) == 0);
  REQUIRE(h2m::send_into(server.get(), s2c, 1 << 16));
  REQUIRE(nghttp2_session_want_write(server.get()) == 0);
  CHECK(resident_pages(tag.block) >= 1);  // the SETTINGS and its ACK were built there

  const std::uint64_t releases = h2m::frame_buffer_releases();
  h2m::release_frame_buffer(tag);
  CHECK(h2m::frame_buffer_releases() == releases + 1);
  CHECK(resident_pages(tag.block) == 0);

  // That the session goes on serving from the zeroed buffer: the Http2Session case below.

  // Freeing the session frees the slot and clears the tag.
  const void* block = tag.block;
  server.reset();
  CHECK(tag.block == nullptr);
  CHECK(resident_pages(block) == 0);
}

TEST_CASE("h2 memory: Http2Session releases its frame buffer when idle and keeps serving",
          "[http][h2][mem]") {
  Pair p;
  std::string big(40000, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>('a' + i % 26);
  }
  p.sown.table["/big"] = big;
  for (int round = 0; round < 2; ++round) {
    const std::uint64_t releases = h2m::frame_buffer_releases();
    ClientReq req("GET", "/big");
    p.client->attach(*req.ex);
    p.pump();
    REQUIRE(req.got_head);
    CHECK(req.head.status == 200);
    CHECK(req.body == big);
    CHECK(req.eof);
    CHECK(p.server->idle());
    if (pool_enabled()) {
      CHECK(h2m::frame_buffer_releases() > releases);
    }
  }
  CHECK(p.server_ok);
  CHECK(p.client_ok);
}
