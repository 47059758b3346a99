# Runs CMD with ARGS and fails unless it exits with EXPECT and says something on stderr.
# EMULATOR (| for ;): what runs target programs in a cross build (CMAKE_CROSSCOMPILING_EMULATOR).
string(REPLACE "|" ";" EMULATOR "${EMULATOR}")
execute_process(COMMAND ${EMULATOR} ${CMD} ${ARGS} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL EXPECT)
  message(FATAL_ERROR "expected exit status ${EXPECT}, got ${rc}: ${err}")
endif()
if(err STREQUAL "")
  message(FATAL_ERROR "exit status ${rc} without a message on stderr")
endif()
message(STATUS "exit ${rc}: ${err}")
