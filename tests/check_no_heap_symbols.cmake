# Fails if libcapsrt.a references the heap, exceptions or RTTI (DESIGN.md rule 1).
# Usage: cmake -DNM=nm -DLIB=libcapsrt.a -P check_no_heap_symbols.cmake
execute_process(COMMAND ${NM} --undefined-only --demangle ${LIB} OUTPUT_VARIABLE undefined
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm failed on ${LIB}")
endif()
set(forbidden "operator new" "operator delete" " malloc$" " calloc$" " realloc$" " free$"
    "__cxa_throw" "__cxa_allocate_exception" "__cxa_begin_catch" "typeinfo for" "__dynamic_cast"
    "std::__cxx11::basic_string" "std::vector")
string(REPLACE "\n" ";" lines "${undefined}")
set(bad "")
foreach(line IN LISTS lines)
  foreach(pattern IN LISTS forbidden)
    if(line MATCHES "${pattern}")
      list(APPEND bad "${line}")
    endif()
  endforeach()
endforeach()
if(bad)
  string(REPLACE ";" "\n" bad "${bad}")
  message(FATAL_ERROR "libcapsrt.a references forbidden symbols:\n${bad}")
endif()
message(STATUS "libcapsrt.a: no heap, exception or RTTI symbols referenced")
