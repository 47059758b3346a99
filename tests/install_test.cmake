# Installs capsrt into a scratch prefix, then builds and runs the C consumer against it with
# find_package(capsrt), and again with add_subdirectory. Usage:
# cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK=... -DMODEL=... -P install_test.cmake
file(REMOVE_RECURSE ${WORK})
macro(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGN}\n${out}\n${err}")
  endif()
endmacro()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK}/prefix)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK}/installed
    -DCMAKE_PREFIX_PATH=${WORK}/prefix -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK}/installed)
run(${WORK}/installed/capsrt_c_consumer ${MODEL})
message(STATUS "find_package(capsrt) consumer:\n${out}")
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK}/subdir
    -DCAPSRT_SOURCE_DIR=${SOURCE_DIR} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK}/subdir)
run(${WORK}/subdir/capsrt_c_consumer ${MODEL})
message(STATUS "add_subdirectory(capsrt) consumer:\n${out}")
