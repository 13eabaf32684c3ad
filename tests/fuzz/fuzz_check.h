// FUZZ_CHECK: an invariant a fuzz target asserts; on failure prints the condition and aborts so
// libFuzzer (and the replay driver under the test runner) reports a crash with the input.
// Thread: any. Not for library code.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (false)
