// Large nghttp2 blocks from untouched pages (see nghttp2_mem.h).
#include "gateway/http/nghttp2_mem.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace portcullis::gateway::http::h2 {
namespace {

// 128Ki slots of 20 KiB: 2.5 GiB of address space, reserved but not committed (MAP_NORESERVE,
// page tables only for touched pages). A session takes two (the frame buffer and the 4 KiB
// stream map), so 64Ki HTTP/2 sessions at once; past that, malloc.
constexpr std::size_t kSlots = 128 * 1024;
constexpr std::size_t kRegionBytes = kSlots * kSlotBytes;

// Under AddressSanitizer every block stays malloc, so that its checks still cover nghttp2's.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPoolEnabled = false;
#else
constexpr bool kPoolEnabled = true;
#endif

class SlotPool {
 public:
  SlotPool() noexcept {
    if (!kPoolEnabled) {
      return;
    }
    try {
      free_.reserve(kSlots);  // give() must not allocate (it runs inside nghttp2's free)
    } catch (const std::bad_alloc&) {
      return;
    }
    // calloc of this size is a fresh mapping: untouched until a slot's tag is written.
    tags_ = static_cast<FrameBufferTag**>(std::calloc(kSlots, sizeof(FrameBufferTag*)));
    if (tags_ == nullptr) {
      return;
    }
    void* p = mmap(nullptr, kRegionBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
      base_ = static_cast<char*>(p);
    }
  }

  bool owns(const void* p) const noexcept {
    const auto* c = static_cast<const char*>(p);
    return base_ != nullptr && c >= base_ && c < base_ + kRegionBytes;
  }

  std::size_t index(const void* p) const noexcept {
    return static_cast<std::size_t>(static_cast<const char*>(p) - base_) / kSlotBytes;
  }

  // The tag slot p belongs to; only the owning session's thread touches it.
  FrameBufferTag*& tag(const void* p) noexcept { return tags_[index(p)]; }

  // A zeroed, untouched slot, or null when none is left.
  void* take() noexcept {
    if (base_ == nullptr) {
      return nullptr;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      const std::uint32_t i = free_.back();
      free_.pop_back();
      ++in_use_;
      return base_ + static_cast<std::size_t>(i) * kSlotBytes;
    }
    if (next_ < kSlots) {
      ++in_use_;
      return base_ + (next_++) * kSlotBytes;
    }
    return nullptr;
  }

  void give(void* p) noexcept {
    const std::size_t i = index(p);
    if (tags_[i] != nullptr) {
      tags_[i]->block = nullptr;
      tags_[i] = nullptr;
    }
    char* slot = base_ + i * kSlotBytes;
    // The pages go back to the kernel; the next user reads zeros and touches only what it
    // writes. Should madvise fail, the slot is retired (zeroed slots are what calloc promises).
    if (madvise(slot, kSlotBytes, MADV_DONTNEED) != 0) {
      std::lock_guard<std::mutex> lock(mu_);
      --in_use_;
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(static_cast<std::uint32_t>(i));  // capacity reserved: no allocation
    --in_use_;
  }

  SlotStats stats() noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    return SlotStats{in_use_, base_ != nullptr ? kSlots : 0};
  }

 private:
  char* base_ = nullptr;
  FrameBufferTag** tags_ = nullptr;  // per slot: the session tag recording it, if any
  std::mutex mu_;
  std::vector<std::uint32_t> free_;
  std::size_t next_ = 0;  // slots past this one were never handed out
  std::size_t in_use_ = 0;
};

// Never destroyed: nghttp2 may free a block (a header rcbuf) during static destruction.
SlotPool& pool() noexcept {
  alignas(SlotPool) static unsigned char storage[sizeof(SlotPool)];
  static SlotPool* p = new (storage) SlotPool();
  return *p;
}

std::atomic<std::uint64_t> g_releases{0};

bool poolable(std::size_t size) noexcept { return size >= kMinPooled && size <= kSlotBytes; }

// A pooled block of the frame buffer's size, the first for this session: record it.
void* tagged(void* p, std::size_t size, void* user) noexcept {
  auto* t = static_cast<FrameBufferTag*>(user);
  if (t != nullptr && t->block == nullptr && size == kFrameBufferBytes) {
    t->block = p;
    pool().tag(p) = t;
  }
  return p;
}

void* mem_malloc(std::size_t size, void* user) {
  if (poolable(size)) {
    if (void* p = pool().take()) {
      return tagged(p, size, user);
    }
  }
  return std::malloc(size);
}

void mem_free(void* ptr, void*) {
  if (ptr == nullptr) {
    return;
  }
  if (pool().owns(ptr)) {
    pool().give(ptr);
  } else {
    std::free(ptr);
  }
}

void* mem_calloc(std::size_t n, std::size_t size, void* user) {
  if (size != 0 && n <= kSlotBytes / size && poolable(n * size)) {
    if (void* p = pool().take()) {
      return tagged(p, n * size, user);  // already zero, and left untouched
    }
  }
  return std::calloc(n, size);
}

void* mem_realloc(void* ptr, std::size_t size, void* user) {
  if (ptr == nullptr) {
    return mem_malloc(size, user);
  }
  if (!pool().owns(ptr)) {
    return std::realloc(ptr, size);
  }
  if (size <= kSlotBytes) {
    return ptr;  // the slot has room
  }
  void* q = std::malloc(size);
  if (q == nullptr) {
    return nullptr;  // ptr stays valid, as realloc promises
  }
  std::memcpy(q, ptr, kSlotBytes);
  pool().give(ptr);
  return q;
}

}  // namespace

nghttp2_mem session_mem(FrameBufferTag* tag) noexcept {
  pool();  // reserve the mapping before the first session, outside any nghttp2 call
  return nghttp2_mem{tag, mem_malloc, mem_free, mem_calloc, mem_realloc};
}

void release_frame_buffer(const FrameBufferTag& tag) noexcept {
  // Failure leaves the pages resident, nothing worse.
  if (tag.block != nullptr && madvise(tag.block, kSlotBytes, MADV_DONTNEED) == 0) {
    g_releases.fetch_add(1, std::memory_order_relaxed);
  }
}

std::uint64_t frame_buffer_releases() noexcept {
  return g_releases.load(std::memory_order_relaxed);
}

SlotStats slot_stats() noexcept { return pool().stats(); }

bool pooled(const void* p) noexcept { return pool().owns(p); }

}  // namespace portcullis::gateway::http::h2
