# Cortex-M3 (ARMv7-M: no FPU, no SIMD), bare metal, with Debian's arm-none-eabi-gcc (packages
# gcc-arm-none-eabi, libnewlib-arm-none-eabi, libstdc++-arm-none-eabi-newlib). Soft-float ABI:
# a float operation in the program would call a libgcc routine (__aeabi_f*, __aeabi_d*), which
# the int8-only build (CMakePresets.json "cortex-m3": CAPSRT_FLOAT=OFF) must never link
# (tests/nofpu/). Functions and data in their own sections, so the linker drops what is unused.
set(CMAKE_SYSTEM_PROCESSOR cortex-m3)
set(_capsrt_cpu_flags "-mcpu=cortex-m3 -mfloat-abi=soft")
include(${CMAKE_CURRENT_LIST_DIR}/cortex-m-common.cmake)
