#!/usr/bin/env bash
# The test command of README.md (and of .ci/run): installs what is missing, then builds and runs
# every test in each configuration the runtime must pass (docs/performance.md, "Where it runs"):
#   1. this machine, warnings as errors: the dispatch picks the best kernel set (AVX-512 here),
#      and every test, including the accuracy and SIMD-against-reference checks of the models;
#   2. the same build with the AVX2 set forced, and with the reference kernels forced;
#   3. the kernel tests under qemu-x86_64 -cpu Haswell and -cpu Nehalem, where the dispatch must
#      pick AVX2, and then the reference, by itself;
#   4. AddressSanitizer + UndefinedBehaviorSanitizer;
#   5. aarch64 (neon64) and armv7 (neon-armv7) cross builds, their tests under qemu-user; then
#      an aarch64 build for armv8.2-a+dotprod, its fixed-point and int8 tests (capsrt_int8_tests)
#      under qemu-aarch64 -cpu max;
#   6. ThreadSanitizer: interpreters on several threads sharing one model;
#   7. the fuzz targets (clang-14 libFuzzer, docs/reliability.md): each builds, replays its
#      regression inputs and seed corpus, and fuzzes for 12 s;
#   8. the int8-only runtime for a Cortex-M3 (no FPU, arm-none-eabi-gcc): it links no
#      floating-point routine, and its load and init stack bounds hold there;
#   9. firmware_demo on Cortex-M4, M7 and M55 boards under qemu-system-arm: the small MNIST
#      classifier in int8 (within the 512 KiB / 64 KiB budget) and in float classifies the
#      embedded test images with the classes and scores of the x86 run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/data/get_data.sh
bash tools/cross_deps.sh aarch64 armv7
jobs=$(nproc)
SECONDS=0
step() { echo; echo "== [$((SECONDS / 60))m$((SECONDS % 60))s] $*"; }

step "1. release build, warnings as errors; the kernel set the dispatch picks here"
cmake --preset host >/dev/null
cmake --build build/release -j "$jobs"
(cd build/release && ctest --output-on-failure -j "$jobs")

step "2a. the same suite with the AVX2 kernels forced (CAPSRT_KERNELS=avx2-fma)"
if grep -q avx2 /proc/cpuinfo; then
  (cd build/release && CAPSRT_KERNELS=avx2-fma ctest --output-on-failure -j "$jobs" -LE "agreement|photos|python" \
    -E install_and_find_package)
else
  echo "this CPU has no AVX2: skipped"
fi
step "2b. the same suite with the reference kernels forced (CAPSRT_KERNELS=reference)"
# (the install test does not depend on the kernels: it runs in steps 1 and 5)
(cd build/release && CAPSRT_KERNELS=reference ctest --output-on-failure -j "$jobs" -LE "agreement|int8_canonical|photos|python" \
  -E install_and_find_package)

step "3. x86 dispatch under qemu-x86_64: -cpu Haswell must pick avx2-fma, -cpu Nehalem the reference"
export CAPSRT_SOURCE_DIR=$PWD  # (ctest sets it for the tests it runs; these run directly)
# The two CPUs at once (one emulator is one thread), each printing when it has finished.
emulated() {
  local out
  out=$(CAPSRT_EXPECT_KERNELS=$2 qemu-x86_64 -cpu "$1" build/release/tests/capsrt_tests 2>/dev/null | tail -2 &&
        qemu-x86_64 -cpu "$1" build/release/tests/capsrt_no_alloc_test 2>/dev/null | tail -2) ||
    { echo "-- qemu-x86_64 -cpu $1 (expecting $2) FAILED:"; echo "$out"; return 1; }
  echo "-- qemu-x86_64 -cpu $1, expecting $2:"; echo "$out"
}
emulated Haswell avx2-fma & haswell=$!
emulated Nehalem reference & nehalem=$!
rc=0; wait $haswell || rc=1; wait $nehalem || rc=1; ((rc == 0))

step "4. AddressSanitizer + UndefinedBehaviorSanitizer build"
cmake --preset host-sanitize >/dev/null
cmake --build build/asan -j "$jobs"
(cd build/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j "$jobs" -E install_and_find_package)

for target in aarch64 armv7; do
  step "5. $target cross build (toolchains/), tests under qemu-user"
  cmake --preset "$target" >/dev/null
  cmake --build "build/$target" -j "$jobs"
  (cd "build/$target" && ctest --output-on-failure -j "$jobs")
done
step "5c. aarch64 for armv8.2-a+dotprod: the sdot int8 kernels against the reference, under qemu-aarch64 -cpu max"
cmake --preset aarch64-dotprod >/dev/null
cmake --build build/aarch64-dotprod -j "$jobs" --target capsrt_int8_tests
qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu build/aarch64-dotprod/tests/capsrt_int8_tests

step "6. ThreadSanitizer: several interpreters on threads sharing one model"
# (-g1: the line tables the reports need; the [threads] tests in a program of their own)
cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAPSRT_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS=-fsanitize=thread -DCMAKE_C_FLAGS=-fsanitize=thread \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
  -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
cmake --build build/tsan -j "$jobs" --target capsrt_thread_tests
TSAN_OPTIONS=halt_on_error=1 build/tsan/tests/capsrt_thread_tests "[threads]"

step "7. fuzz targets: build, replay regressions and seeds, fuzz 12 s each ($jobs at a time)"
export CAPSRT_FUZZ_WORK=$PWD/build/fuzz/ci CAPSRT_FUZZ_NO_BUILD=1
rm -rf "$CAPSRT_FUZZ_WORK"
bash tools/fuzz.sh --build
bash tools/fuzz.sh --list | xargs -P "$jobs" -I{} bash tools/fuzz.sh {} 12

step "8. Cortex-M3, int8 only (no FPU): no floating-point routine linked; stack bounds"
cmake --preset cortex-m3 >/dev/null
cmake --build build/cortex-m3 -j "$jobs"
(cd build/cortex-m3 && ctest --output-on-failure -V | grep -E "symbols|deepest|tests passed")

step "9. firmware_demo on Cortex-M4, M7 and M55 under qemu-system-arm (-icount: instructions)"
bash firmware_demo/make_assets.sh build/release build/firmware-assets 100
for core in m4 m7 m55; do
  cmake --preset "cortex-$core" >/dev/null
  cmake --build "build/cortex-$core" -j "$jobs" | grep -E "FLASH:|RAM:|MODEL:" || true
  (cd "build/cortex-$core" && ctest --output-on-failure -j "$jobs" -V -L firmware |
    grep -E "on mps|^[0-9]+: model:|accuracy|per inference|flash: total|RAM: total|stack used|passed, |tests passed")
done

step "all configurations passed"
