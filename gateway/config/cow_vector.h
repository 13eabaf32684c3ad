// CowVector<T>: a vector of T whose elements can be shared with other CowVectors (a reload's
// next generation takes over every unchanged tenant by pointer instead of copying it).
//
// Reads (const access) give const T&. A non-const access to an element that another vector
// shares copies that element first (copy-on-write), so code written for std::vector<T> stays
// correct; an element held by this vector alone is changed in place. push_shared()/shared()
// move elements between generations without copying them. A copy of the whole vector shares
// its chunks of element pointers (1024 a chunk): O(size / 1024), and writing one element
// copies that element's chunk of pointers only.
// Thread: like std::vector; shared elements are immutable, so concurrent readers of other
//         generations never see a change.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace portcullis::gateway::config {

template <typename T>
class CowVector {
  using Slot = std::shared_ptr<T>;
  // Slots live in chunks of kChunk, themselves shared between vectors: a copy of the vector
  // copies one pointer a chunk (at a million tenants, a per-tenant reload copied a million
  // element pointers), and writing to one element copies its chunk's pointers first.
  static constexpr std::size_t kShift = 10;
  static constexpr std::size_t kChunk = std::size_t{1} << kShift;
  using Chunk = std::vector<Slot>;

 public:
  using value_type = T;
  using size_type = std::size_t;

  template <bool Const>
  class Iter {
    using Vec = std::conditional_t<Const, const CowVector, CowVector>;

   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = std::conditional_t<Const, const T*, T*>;
    using reference = std::conditional_t<Const, const T&, T&>;

    Iter() = default;
    Iter(Vec* v, difference_type i) : v_(v), i_(i) {}
    operator Iter<true>() const { return Iter<true>(v_, i_); }  // NOLINT: as std iterators

    reference operator*() const { return (*v_)[static_cast<size_type>(i_)]; }
    pointer operator->() const { return &**this; }
    reference operator[](difference_type n) const { return *(*this + n); }
    Iter& operator++() { ++i_; return *this; }
    Iter operator++(int) { Iter r = *this; ++i_; return r; }
    Iter& operator--() { --i_; return *this; }
    Iter operator--(int) { Iter r = *this; --i_; return r; }
    Iter& operator+=(difference_type n) { i_ += n; return *this; }
    Iter& operator-=(difference_type n) { i_ -= n; return *this; }
    friend Iter operator+(Iter a, difference_type n) { return a += n; }
    friend Iter operator+(difference_type n, Iter a) { return a += n; }
    friend Iter operator-(Iter a, difference_type n) { return a -= n; }
    friend difference_type operator-(const Iter& a, const Iter& b) { return a.i_ - b.i_; }
    friend bool operator==(const Iter& a, const Iter& b) { return a.i_ == b.i_; }
    friend auto operator<=>(const Iter& a, const Iter& b) { return a.i_ <=> b.i_; }

   private:
    Vec* v_ = nullptr;
    difference_type i_ = 0;
  };
  using iterator = Iter<false>;
  using const_iterator = Iter<true>;

  CowVector() = default;
  CowVector(std::initializer_list<T> items) {
    for (const auto& t : items) {
      push_back(t);
    }
  }
  CowVector(std::vector<T>&& items) {  // NOLINT: assigned from a std::vector like before
    reserve(items.size());
    for (auto& t : items) {
      push_back(std::move(t));
    }
  }

  size_type size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  void reserve(size_type n) { chunks_.reserve((n + kChunk - 1) >> kShift); }
  void clear() noexcept {
    chunks_.clear();
    size_ = 0;
  }
  void resize(size_type n) {
    while (size_ > n) {
      pop_back();
    }
    while (size_ < n) {
      push_slot(std::make_shared<T>());
    }
  }

  const T& operator[](size_type i) const noexcept { return *slot(i); }
  T& operator[](size_type i) { return own(writable_slot(i)); }
  const T& front() const noexcept { return (*this)[0]; }
  const T& back() const noexcept { return (*this)[size_ - 1]; }
  T& front() { return (*this)[0]; }
  T& back() { return (*this)[size_ - 1]; }

  const_iterator begin() const noexcept { return const_iterator(this, 0); }
  const_iterator end() const noexcept { return const_iterator(this, static_cast<std::ptrdiff_t>(size_)); }
  const_iterator cbegin() const noexcept { return begin(); }
  const_iterator cend() const noexcept { return end(); }
  iterator begin() noexcept { return iterator(this, 0); }
  iterator end() noexcept { return iterator(this, static_cast<std::ptrdiff_t>(size_)); }

  void push_back(const T& t) { push_slot(std::make_shared<T>(t)); }
  void push_back(T&& t) { push_slot(std::make_shared<T>(std::move(t))); }
  template <typename... A>
  T& emplace_back(A&&... a) {
    push_slot(std::make_shared<T>(std::forward<A>(a)...));
    return *slot(size_ - 1);
  }
  void pop_back() {
    own_chunk(chunks_.size() - 1).pop_back();
    if (chunks_.back()->empty()) {
      chunks_.pop_back();
    }
    --size_;
  }
  iterator erase(const_iterator first, const_iterator last) {
    const auto at = static_cast<size_type>(first - cbegin());
    const auto gone = static_cast<size_type>(last - first);
    for (size_type i = at + gone; i < size_; ++i) {
      writable_slot(i - gone) = slot(i);
    }
    for (size_type k = 0; k < gone; ++k) {
      pop_back();
    }
    return begin() + static_cast<std::ptrdiff_t>(at);
  }

  // Sorts by `less` on the elements (const), moving pointers: shared elements stay shared
  // (std::sort through the iterators would copy every shared element it touches).
  template <typename Less>
  void sort(Less less) {
    std::vector<Slot> all;
    all.reserve(size_);
    for (size_type i = 0; i < size_; ++i) {
      all.push_back(slot(i));
    }
    const auto by = [&](const Slot& a, const Slot& b) {
      return less(std::as_const(*a), std::as_const(*b));
    };
    if (std::is_sorted(all.begin(), all.end(), by)) {
      return;  // the chunks as they are
    }
    std::sort(all.begin(), all.end(), by);
    clear();
    reserve(all.size());
    for (auto& s : all) {
      push_slot(std::move(s));
    }
  }

  // The element itself, to share with another vector; never copied.
  std::shared_ptr<const T> shared(size_type i) const noexcept { return slot(i); }
  void push_shared(std::shared_ptr<const T> t) {
    // Only const access reaches it while anyone else holds it (own() copies first).
    push_slot(std::const_pointer_cast<T>(std::move(t)));
  }
  // Puts `t` at index i (an existing one), shared as push_shared() does.
  void set_shared(size_type i, std::shared_ptr<const T> t) {
    writable_slot(i) = std::const_pointer_cast<T>(std::move(t));
  }
  // Whether element i is the very object `p` (not a copy of it).
  bool same(size_type i, const T* p) const noexcept { return slot(i).get() == p; }
  // Whether elements [i, i + n) of this vector and of `o` are the same objects, known without
  // looking at them one by one when they sit in one shared chunk (a per-tenant reload's
  // comparisons of two generations visit one pointer a chunk, not one an element).
  size_type same_run(size_type i, const CowVector& o) const noexcept {
    const size_type c = i >> kShift;
    if ((i & (kChunk - 1)) == 0 && c < chunks_.size() && c < o.chunks_.size() &&
        chunks_[c] == o.chunks_[c]) {
      return chunks_[c]->size();
    }
    return i < size_ && i < o.size_ && slot(i) == o.slot(i) ? 1 : 0;
  }

 private:
  const Slot& slot(size_type i) const noexcept { return (*chunks_[i >> kShift])[i & (kChunk - 1)]; }
  // This vector's own copy of chunk c's pointers (the elements stay shared).
  Chunk& own_chunk(size_type c) {
    if (chunks_[c].use_count() > 1) {
      chunks_[c] = std::make_shared<Chunk>(std::as_const(*chunks_[c]));
      chunks_[c]->reserve(kChunk);
    }
    return *chunks_[c];
  }
  Slot& writable_slot(size_type i) { return own_chunk(i >> kShift)[i & (kChunk - 1)]; }
  void push_slot(Slot s) {
    if ((size_ & (kChunk - 1)) == 0) {
      chunks_.push_back(std::make_shared<Chunk>());
      chunks_.back()->reserve(kChunk);
    }
    own_chunk(chunks_.size() - 1).push_back(std::move(s));
    ++size_;
  }
  // The element for writing: this vector's own copy. use_count() is 1 only when no other
  // vector can reach it, and nobody else can raise it (only we hold the pointer).
  static T& own(Slot& s) {
    if (s.use_count() > 1) {
      if constexpr (std::is_copy_constructible_v<T>) {
        s = std::make_shared<T>(std::as_const(*s));
      } else {
        std::abort();  // a shared element that cannot be copied is never written to
      }
    }
    return *s;
  }

  std::vector<std::shared_ptr<Chunk>> chunks_;
  size_type size_ = 0;
};

}  // namespace portcullis::gateway::config
