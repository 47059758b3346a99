// The test programs' main: applies the CAPSRT_KERNELS environment variable (a kernel set name,
// see tools/common/kernels_choice.hpp) before any test runs, so the whole suite can be run on a
// forced set: CAPSRT_KERNELS=reference ctest, CAPSRT_KERNELS=avx2-fma ctest. Also the main for
// cross builds, where Debian's Catch2WithMain library (x86 only) cannot be linked.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdio>

#include "capsrt/capsrt.h"
#include "kernels_choice.hpp"

int main(int argc, char** argv) {
  try {
    capsrt::tools::choose_kernels("");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "capsrt_tests: %s\n", e.what());
    return 2;
  }
  return Catch::Session().run(argc, argv);
}
