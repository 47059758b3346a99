#!/usr/bin/env bash
# The test command of README.md (and of .ci/run): installs what is missing, builds with warnings
# as errors, runs every test; then the same under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/data/get_data.sh
jobs=$(nproc)

echo "== release build, warnings as errors"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCAPSRT_WERROR=ON >/dev/null
cmake --build build/release -j "$jobs"
(cd build/release && ctest --output-on-failure -j "$jobs")

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAPSRT_WERROR=ON -DCAPSRT_SANITIZE=ON \
  -DCAPSRT_BUILD_BENCH=OFF >/dev/null
cmake --build build/asan -j "$jobs"
(cd build/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j "$jobs")
