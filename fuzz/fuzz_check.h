#pragma once
// FUZZ_CHECK(cond, what): an invariant of a fuzz target. A violation is a finding: it is
// printed and the process aborts, so libFuzzer saves the input as a crash artifact.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, what)                                                                \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "%s:%d: invariant violated: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   what);                                                                     \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)
