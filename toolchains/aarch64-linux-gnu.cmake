# Cross build for 64-bit ARM Linux (Raspberry Pi 3/4/5 with a 64-bit OS, Jetson, Graviton...):
#   cmake -S . -B build/aarch64 --toolchain toolchains/aarch64-linux-gnu.cmake   (or --preset aarch64)
# Needs Debian's g++-aarch64-linux-gnu; the tests run under qemu-user (package qemu-user), which
# ctest calls through CMAKE_CROSSCOMPILING_EMULATOR. NEON is part of every aarch64 core: the
# build has the "neon64" kernel set. tools/cross_deps.sh fetches Google Benchmark for capsbench.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CAPSRT_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${CAPSRT_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${CAPSRT_CROSS_TRIPLE}-g++)
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross-common.cmake)
