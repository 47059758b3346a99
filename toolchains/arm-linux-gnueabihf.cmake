# Cross build for 32-bit ARM Linux with NEON (armv7-a, hard float: Raspberry Pi 2/3/4 with a
# 32-bit OS, i.MX6, Zynq...):
#   cmake -S . -B build/armv7 --toolchain toolchains/arm-linux-gnueabihf.cmake   (or --preset armv7)
# Needs Debian's g++-arm-linux-gnueabihf; tests run under qemu-arm. -mfpu=neon-vfpv4 gives NEON
# with fused multiply-add (every Cortex-A7 and later): the build has the "neon-armv7" kernel set.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7)
set(CAPSRT_CROSS_TRIPLE arm-linux-gnueabihf)
set(CMAKE_C_COMPILER ${CAPSRT_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${CAPSRT_CROSS_TRIPLE}-g++)
set(CMAKE_C_FLAGS_INIT "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard")
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard")
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross-common.cmake)
