// CowVector: elements shared between vectors by pointer; writing to a shared one copies it
// first, so the other vector (a running generation) never sees the change.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/config/cow_vector.h"

namespace portcullis::gateway::config {
namespace {

struct Item {
  std::string name;
  int value = 0;
};

TEST_CASE("CowVector: shared elements are the same objects until written", "[cow_vector]") {
  CowVector<Item> a;
  a.push_back(Item{"x", 1});
  a.push_back(Item{"y", 2});
  CowVector<Item> b;
  for (std::size_t i = 0; i < a.size(); ++i) {
    b.push_shared(a.shared(i));
  }
  const CowVector<Item>& cb = b;
  CHECK(b.same(0, &std::as_const(a)[0]));  // const reads copy nothing
  CHECK(cb[1].value == 2);
  CHECK(b.same(1, &std::as_const(a)[1]));

  b[1].value = 20;  // shared: b gets its own copy
  CHECK(std::as_const(a)[1].value == 2);
  CHECK(cb[1].value == 20);
  CHECK_FALSE(b.same(1, &std::as_const(a)[1]));
  CHECK(b.same(0, &std::as_const(a)[0]));

  const Item* own = &cb[1];
  b[1].value = 21;  // b's alone now: changed in place
  CHECK(&cb[1] == own);
  for (auto& it : b) {  // non-const iteration copies the shared ones only
    it.value += 100;
  }
  CHECK(std::as_const(a)[0].value == 1);
  CHECK(cb[0].value == 101);
  CHECK(cb[1].value == 121);
}

TEST_CASE("CowVector: works as the std::vector it replaced", "[cow_vector]") {
  CowVector<Item> v = std::vector<Item>{{"c", 3}, {"a", 1}, {"b", 2}};
  std::sort(v.begin(), v.end(), [](const Item& x, const Item& y) { return x.name < y.name; });
  const auto& cv = v;
  REQUIRE(cv.size() == 3);
  CHECK(cv[0].name == "a");
  CHECK(cv[2].name == "c");
  const auto it = std::lower_bound(cv.begin(), cv.end(), std::string("b"),
                                   [](const Item& x, const std::string& n) { return x.name < n; });
  CHECK(it - cv.begin() == 1);
  v.erase(cv.begin(), cv.begin() + 1);
  CHECK(cv.front().name == "b");
  v.resize(4);
  CHECK(cv.back().name.empty());
  v = {Item{"z", 26}};
  CHECK(cv.size() == 1);
}

TEST_CASE("CowVector: a copy shares the chunks; a write copies one chunk", "[cow_vector]") {
  CowVector<Item> a;
  for (int i = 0; i < 3000; ++i) {  // three chunks of 1024, the last one partly filled
    a.push_back(Item{std::to_string(i), i});
  }
  CowVector<Item> b = a;
  const auto& ca = a;
  const auto& cb = b;
  CHECK(b.same_run(0, a) == 1024);  // one comparison for a whole shared chunk
  CHECK(b.same_run(2048, a) == 3000 - 2048);
  b[1500].value = -1;  // copies chunk 1's pointers, then element 1500
  CHECK(ca[1500].value == 1500);
  CHECK(cb[1500].value == -1);
  CHECK(b.same_run(0, a) == 1024);
  CHECK(b.same_run(1024, a) == 1);  // chunk 1 is b's own now: element by element
  CHECK(b.same(1024, &ca[1024]));   // its other elements are still shared
  CHECK_FALSE(b.same(1500, &ca[1500]));
  b.set_shared(7, a.shared(8));
  CHECK(b.same(7, &ca[8]));
  CHECK(b.same_run(0, a) == 1);
  CHECK(ca[7].value == 7);  // a's chunk 0 untouched
  b.push_back(Item{"new", 3000});
  b.pop_back();
  b.pop_back();
  CHECK(b.size() == 2999);
  CHECK(a.size() == 3000);
  CHECK(ca.back().value == 2999);
  b.erase(cb.begin() + 1, cb.begin() + 1025);  // across a chunk boundary
  REQUIRE(b.size() == 2999 - 1024);
  CHECK(cb[0].value == 0);
  CHECK(cb[1].value == 1025);
  CHECK(cb[b.size() - 1].value == 2998);
  CHECK(ca[1].value == 1);
  CHECK(ca.size() == 3000);
}

}  // namespace
}  // namespace portcullis::gateway::config
