// CowVector<T>: a vector of T whose elements can be shared with other CowVectors (a reload's
// next generation takes over every unchanged tenant by pointer instead of copying it).
//
// Reads (const access) give const T&. A non-const access to an element that another vector
// shares copies that element first (copy-on-write), so code written for std::vector<T> stays
// correct; an element held by this vector alone is changed in place. push_shared()/shared()
// move elements between generations without copying them.
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
  using Slots = std::vector<Slot>;

 public:
  using value_type = T;
  using size_type = std::size_t;

  template <bool Const>
  class Iter {
    using Base = std::conditional_t<Const, typename Slots::const_iterator, typename Slots::iterator>;

   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = std::conditional_t<Const, const T*, T*>;
    using reference = std::conditional_t<Const, const T&, T&>;

    Iter() = default;
    explicit Iter(Base it) : it_(it) {}
    operator Iter<true>() const { return Iter<true>(it_); }  // NOLINT: as std iterators

    reference operator*() const {
      if constexpr (Const) {
        return **it_;
      } else {
        return own(*it_);
      }
    }
    pointer operator->() const { return &**this; }
    reference operator[](difference_type n) const { return *(*this + n); }
    Iter& operator++() { ++it_; return *this; }
    Iter operator++(int) { Iter r = *this; ++it_; return r; }
    Iter& operator--() { --it_; return *this; }
    Iter operator--(int) { Iter r = *this; --it_; return r; }
    Iter& operator+=(difference_type n) { it_ += n; return *this; }
    Iter& operator-=(difference_type n) { it_ -= n; return *this; }
    friend Iter operator+(Iter a, difference_type n) { return a += n; }
    friend Iter operator+(difference_type n, Iter a) { return a += n; }
    friend Iter operator-(Iter a, difference_type n) { return a -= n; }
    friend difference_type operator-(const Iter& a, const Iter& b) { return a.it_ - b.it_; }
    friend bool operator==(const Iter& a, const Iter& b) { return a.it_ == b.it_; }
    friend auto operator<=>(const Iter& a, const Iter& b) { return a.it_ <=> b.it_; }

   private:
    Base it_{};
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
    slots_.reserve(items.size());
    for (auto& t : items) {
      push_back(std::move(t));
    }
  }

  size_type size() const noexcept { return slots_.size(); }
  bool empty() const noexcept { return slots_.empty(); }
  void reserve(size_type n) { slots_.reserve(n); }
  void clear() noexcept { slots_.clear(); }
  void resize(size_type n) {
    const size_type old = slots_.size();
    slots_.resize(n);
    for (size_type i = old; i < n; ++i) {
      slots_[i] = std::make_shared<T>();
    }
  }

  const T& operator[](size_type i) const noexcept { return *slots_[i]; }
  T& operator[](size_type i) { return own(slots_[i]); }
  const T& front() const noexcept { return *slots_.front(); }
  const T& back() const noexcept { return *slots_.back(); }
  T& front() { return own(slots_.front()); }
  T& back() { return own(slots_.back()); }

  const_iterator begin() const noexcept { return const_iterator(slots_.cbegin()); }
  const_iterator end() const noexcept { return const_iterator(slots_.cend()); }
  const_iterator cbegin() const noexcept { return begin(); }
  const_iterator cend() const noexcept { return end(); }
  iterator begin() noexcept { return iterator(slots_.begin()); }
  iterator end() noexcept { return iterator(slots_.end()); }

  void push_back(const T& t) { slots_.push_back(std::make_shared<T>(t)); }
  void push_back(T&& t) { slots_.push_back(std::make_shared<T>(std::move(t))); }
  template <typename... A>
  T& emplace_back(A&&... a) {
    return *slots_.emplace_back(std::make_shared<T>(std::forward<A>(a)...));
  }
  void pop_back() { slots_.pop_back(); }
  iterator erase(const_iterator first, const_iterator last) {
    const auto at = first - cbegin();
    slots_.erase(slots_.begin() + at, slots_.begin() + (last - cbegin()));
    return begin() + at;
  }

  // The element itself, to share with another vector; never copied.
  std::shared_ptr<const T> shared(size_type i) const noexcept { return slots_[i]; }
  void push_shared(std::shared_ptr<const T> t) {
    // Only const access reaches it while anyone else holds it (own() copies first).
    slots_.push_back(std::const_pointer_cast<T>(std::move(t)));
  }
  // Whether element i is the very object `p` (not a copy of it).
  bool same(size_type i, const T* p) const noexcept { return slots_[i].get() == p; }

 private:
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

  Slots slots_;
};

}  // namespace portcullis::gateway::config
