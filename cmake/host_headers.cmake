# Header-only dependencies (Debian's libxsimd-dev, and for cross builds catch2) exposed through a
# private folder in the build tree, ${PROJECT_BINARY_DIR}/host_include, that holds only them: a
# cross compiler must not get -I/usr/include, where the host's glibc headers would leak in.
#
#   capsrt_host_headers(xsimd xsimd/xsimd.hpp "apt-get install libxsimd-dev")
# makes ${PROJECT_BINARY_DIR}/host_include/xsimd a link to the host's folder; the include path
# to use is CAPSRT_HOST_INCLUDE.
set(CAPSRT_HOST_INCLUDE ${PROJECT_BINARY_DIR}/host_include)
function(capsrt_host_headers name header hint)
  find_path(CAPSRT_${name}_ROOT ${header} PATHS /usr/include /usr/local/include NO_CMAKE_FIND_ROOT_PATH
            NO_CMAKE_SYSTEM_PATH)
  if(NOT CAPSRT_${name}_ROOT)
    message(FATAL_ERROR "${header} not found: ${hint}")
  endif()
  file(MAKE_DIRECTORY ${CAPSRT_HOST_INCLUDE})
  if(NOT EXISTS ${CAPSRT_HOST_INCLUDE}/${name})
    file(CREATE_LINK ${CAPSRT_${name}_ROOT}/${name} ${CAPSRT_HOST_INCLUDE}/${name} SYMBOLIC)
  endif()
endfunction()

# An INTERFACE target `alias` for a header-only package found as above (cross builds, where the
# host's CMake package for it cannot be used).
function(capsrt_host_header_target name header hint alias)
  capsrt_host_headers(${name} ${header} "${hint}")
  string(MAKE_C_IDENTIFIER "capsrt_hdr_${name}" target)
  add_library(${target} INTERFACE)
  target_include_directories(${target} SYSTEM INTERFACE ${CAPSRT_HOST_INCLUDE})
  add_library(${alias} ALIAS ${target})
endfunction()
