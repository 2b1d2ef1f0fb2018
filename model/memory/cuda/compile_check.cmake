# The ctest cuda_compile_check (tests/memory/cuda.cmake): configures this directory as a
# project of its own with MNEMO_CUDA_COMPILE_CHECK=ON and PyPI's nvcc, and builds it, so the
# CUDA kernels, their ATen wrapper, their test and the CPU kernels' CUDA dispatch keep
# compiling on machines with neither a GPU nor a CUDA toolkit.
#   cmake -DMNEMO_SOURCE_DIR=<repo> -DBINARY_DIR=<dir> -DCACHE_DIR=<dir> [-DGENERATOR=...]
#         [-DCONFIGURE_ARGS=<list>] -P compile_check.cmake
cmake_minimum_required(VERSION 3.22)
foreach(var MNEMO_SOURCE_DIR BINARY_DIR CACHE_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "compile_check.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(
  COMMAND ${CMAKE_COMMAND} -E env MNEMO_CACHE_DIR=${CACHE_DIR}
    ${MNEMO_SOURCE_DIR}/scripts/fetch-cuda-pypi.sh
  OUTPUT_VARIABLE cuda_args OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "scripts/fetch-cuda-pypi.sh failed (${rc})")
endif()
string(REPLACE "\n" ";" cuda_args "${cuda_args}")

set(generator_args)
if(GENERATOR)
  set(generator_args -G ${GENERATOR})
endif()
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${MNEMO_SOURCE_DIR}/model/memory/cuda -B ${BINARY_DIR}
    ${generator_args} -DMNEMO_CUDA_COMPILE_CHECK=ON ${cuda_args} ${CONFIGURE_ARGS}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the CUDA compile check failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BINARY_DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the CUDA compile check failed to compile (${rc})")
endif()
