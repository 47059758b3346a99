// The test programs' main: applies the CAPSRT_KERNELS environment variable (a kernel set name,
// see tools/common/kernels_choice.hpp) before any test runs, so the whole suite can be run on a
// forced set: CAPSRT_KERNELS=reference ctest, CAPSRT_KERNELS=avx2-fma ctest. Also the main for
// cross builds, where Debian's Catch2WithMain library (x86 only) cannot be linked.
//
// Every run warns about NoAssertions, so a test case that checks nothing fails, however the
// program is started (ctest, or directly under QEMU in tools/run_tests.sh). It is set here since
// Catch2 2.13 takes one --warn on the command line, which ctest's entries use for NoTests.
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
  Catch::Session session;
  const int rc = session.applyCommandLine(argc, argv);
  if (rc != 0) return rc;
  Catch::ConfigData& config = session.configData();
  config.warnings = static_cast<Catch::WarnAbout::What>(config.warnings | Catch::WarnAbout::NoAssertions);
  return session.run();
}
