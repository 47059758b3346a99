# Converts a shipped checkpoint with capsconv, evaluates it with capsrun on an IDX test set, and
# requires the number of correct answers documented in models/models.json (to TOLERANCE images).
# cmake -DCAPSCONV=... -DCAPSRUN=... -DMODELS=models/ -DNAME=small_mnist -DIMAGES=... -DLABELS=...
#       -DWORK=dir [-DLIMIT=1000] -DTOLERANCE=5 -P check_accuracy.cmake
file(READ ${MODELS}/models.json manifest)
string(JSON entry GET "${manifest}" ${NAME})
string(JSON checkpoint GET "${entry}" checkpoint)
string(JSON arch GET "${entry}" arch)
if(arch MATCHES "\\.json$")  # an architecture file, relative to the source tree
  set(arch ${MODELS}/../${arch})
endif()
if(DEFINED LIMIT)
  string(JSON expect GET "${entry}" capsrt_subset_correct)
  string(JSON subset GET "${entry}" capsrt_subset_count)
  if(NOT subset EQUAL LIMIT)
    message(FATAL_ERROR "models.json documents a ${subset}-image subset, the test uses ${LIMIT}")
  endif()
  set(limit_args --limit ${LIMIT})
else()
  string(JSON expect GET "${entry}" capsrt_test_correct)
endif()
file(MAKE_DIRECTORY ${WORK})
execute_process(COMMAND ${CAPSCONV} ${MODELS}/${checkpoint} --arch ${arch} -o ${WORK}/${NAME}.caps -q
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "capsconv failed: ${err}")
endif()
execute_process(COMMAND ${CAPSRUN} ${WORK}/${NAME}.caps --idx-images ${IMAGES} --idx-labels ${LABELS}
                        --eval --json -q ${limit_args}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "capsrun failed: ${err}")
endif()
string(JSON correct GET "${out}" correct)
string(JSON count GET "${out}" count)
math(EXPR diff "${correct} - ${expect}")
if(diff LESS 0)
  math(EXPR diff "0 - ${diff}")
endif()
message(STATUS "${NAME}: ${correct} of ${count} correct; documented ${expect}")
if(diff GREATER TOLERANCE)
  message(FATAL_ERROR "${NAME}: ${correct} of ${count} correct, models.json documents ${expect} (tolerance ${TOLERANCE})")
endif()
