# Installs capsrt into a scratch prefix, then builds and runs the C consumer against it with
# find_package(capsrt), and again with add_subdirectory (natively only). Usage:
# cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK=... -DMODEL=... [-DTOOLCHAIN=file -DEMULATOR=a|b]
#       -P install_test.cmake
# In a cross build TOOLCHAIN is the build's toolchain file, passed on to the consumer projects,
# and EMULATOR (| for ;) runs the consumer.
file(REMOVE_RECURSE ${WORK})
string(REPLACE "|" ";" EMULATOR "${EMULATOR}")
set(toolchain_arg "")
if(TOOLCHAIN)
  set(toolchain_arg --toolchain ${TOOLCHAIN})
endif()
macro(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGN}\n${out}\n${err}")
  endif()
endmacro()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK}/prefix)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK}/installed ${toolchain_arg}
    -DCMAKE_PREFIX_PATH=${WORK}/prefix -DCMAKE_FIND_ROOT_PATH=${WORK}/prefix -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK}/installed --parallel 2)
run(${EMULATOR} ${WORK}/installed/capsrt_c_consumer ${MODEL})
message(STATUS "find_package(capsrt) consumer:\n${out}")
run(${EMULATOR} ${WORK}/installed/capsrt_cpp_consumer ${MODEL})
message(STATUS "find_package(capsrt) C++ consumer:\n${out}")
# The subproject build compiles the library again: once, natively. In a cross build the library's
# CMake has just run with this toolchain (as the top project), and being a subproject changes
# nothing that depends on the target.
if(TOOLCHAIN)
  return()
endif()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK}/subdir ${toolchain_arg}
    -DCAPSRT_SOURCE_DIR=${SOURCE_DIR} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK}/subdir --parallel 2)
run(${EMULATOR} ${WORK}/subdir/capsrt_c_consumer ${MODEL})
message(STATUS "add_subdirectory(capsrt) consumer:\n${out}")
