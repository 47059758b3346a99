# Shared by the Linux cross toolchain files (CAPSRT_CROSS_TRIPLE set by the includer).
# Libraries and headers come only from the target's folder (Debian's cross packages install it
# at /usr/<triple>) and from an optional private sysroot that tools/cross_deps.sh fills with the
# target's Google Benchmark (build/cross-sysroot/<triple>); programs run on the host.
set(CAPSRT_CROSS_SYSROOT ${CMAKE_CURRENT_LIST_DIR}/../build/cross-sysroot/${CAPSRT_CROSS_TRIPLE})
list(APPEND CMAKE_FIND_ROOT_PATH /usr/${CAPSRT_CROSS_TRIPLE} ${CAPSRT_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_LIBRARY_ARCHITECTURE ${CAPSRT_CROSS_TRIPLE})
# ctest (and catch_discover_tests) run target programs through qemu-user; -L gives it the
# target's dynamic loader and libraries.
string(REGEX REPLACE "-.*" "" _capsrt_cpu ${CAPSRT_CROSS_TRIPLE})
if(_capsrt_cpu STREQUAL "aarch64")
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/${CAPSRT_CROSS_TRIPLE})
else()
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm -L /usr/${CAPSRT_CROSS_TRIPLE})
endif()
