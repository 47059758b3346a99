# Finds xsimd's headers (Debian's libxsimd-dev) and exposes them through a private folder in the
# build tree, CAPSRT_XSIMD_INCLUDE. Header-only: no find_package (its config links a missing
# `xtl` library), and a cross compiler must not get -I/usr/include, where the host's glibc
# headers would leak in; the private folder holds only xsimd.
find_path(CAPSRT_XSIMD_ROOT xsimd/xsimd.hpp PATHS /usr/include /usr/local/include NO_CMAKE_FIND_ROOT_PATH)
if(NOT CAPSRT_XSIMD_ROOT)
  message(FATAL_ERROR "xsimd not found: apt-get install libxsimd-dev (tools/setup.sh does), or -DCAPSRT_SIMD=OFF")
endif()
set(CAPSRT_XSIMD_INCLUDE ${PROJECT_BINARY_DIR}/xsimd_include)
file(MAKE_DIRECTORY ${CAPSRT_XSIMD_INCLUDE})
if(NOT EXISTS ${CAPSRT_XSIMD_INCLUDE}/xsimd)
  file(CREATE_LINK ${CAPSRT_XSIMD_ROOT}/xsimd ${CAPSRT_XSIMD_INCLUDE}/xsimd SYMBOLIC)
endif()
