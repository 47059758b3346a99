// The kernel sets a SIMD test compares with the reference, and how such a test reports that it
// had none to compare.
#ifndef CAPSRT_TESTS_SIMD_SETS_HPP
#define CAPSRT_TESTS_SIMD_SETS_HPP

#include <catch2/catch.hpp>
#include <cstdio>
#include <vector>

#include "kernel_set.h"

namespace testutil {

// The sets other than the reference that this build has and this CPU runs. When there is none
// (an x86 CPU without AVX2, an ARM build without NEON), the test prints "SKIPPED: ..." and
// records one passing check: ctest then reports it as skipped (SKIP_REGULAR_EXPRESSION in
// tests/CMakeLists.txt) instead of passed having compared nothing, and --warn NoAssertions, which
// fails a test that checks nothing, lets it through.
inline std::vector<const capsrt::kernels::KernelSet*> simd_sets_here() {
  std::vector<const capsrt::kernels::KernelSet*> sets;
  for (uint32_t id = CAPS_KERNELS_REFERENCE + 1; id < CAPS_KERNELS_COUNT; ++id)
    if (capsrt::kernels::kernel_set_runnable(id)) sets.push_back(capsrt::kernels::kernel_set(id));
  if (sets.empty()) {
    std::printf("SKIPPED: %s: no SIMD kernel set runs on this CPU in this build\n",
                Catch::getResultCapture().getCurrentTestName().c_str());
    SUCCEED("no SIMD kernel set here: skipped");
  }
  return sets;
}

}  // namespace testutil

#endif
