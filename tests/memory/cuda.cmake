# CUDA block kernels (model/memory/cuda).
#   memory_cuda_tests    CUDA against CPU kernels; built with mnemo_memory_cuda (a CUDA
#                        LibTorch and a CUDA compiler); skips itself when no GPU is present.
#   cuda_compile_check   without a CUDA build: compiles the CUDA sources with PyPI's nvcc in a
#                        sub-build (build/cuda-compile-check), after fetch_cuda_pypi fetched
#                        it into the test cache. Label `cuda`; needs PyPI (like fetch_smollm2).
#   memory_cuda_bench    benchmark (not a test): one decode step's memory attention on the
#                        GPU against the number of memory tokens, as JSON.
if(TARGET mnemo_memory_cuda)
  mnemo_gtest(memory_cuda_tests LIBS mnemo_memory_cuda mnemo_memory_exact
    SOURCES unit/memory_cuda_tests.cpp PROPERTIES LABELS cuda)
  add_executable(memory_cuda_bench bench/memory_cuda_bench.cpp)
  target_link_libraries(memory_cuda_bench PRIVATE mnemo_memory_cuda nlohmann_json::nlohmann_json
    mnemo_warnings)
elseif(TARGET mnemo_memory_cuda_check)
  # MNEMO_CUDA_COMPILE_CHECK=ON at the top level: the test and the benchmark compile, nothing
  # links.
  add_library(memory_cuda_tests_check OBJECT unit/memory_cuda_tests.cpp bench/memory_cuda_bench.cpp)
  target_include_directories(memory_cuda_tests_check PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_definitions(memory_cuda_tests_check PRIVATE MNEMO_WITH_CUDA)
  target_link_libraries(memory_cuda_tests_check PRIVATE mnemo_torch_cuda_headers GTest::gtest
    nlohmann_json::nlohmann_json mnemo_warnings)
else()
  add_test(NAME fetch_cuda_pypi COMMAND ${CMAKE_COMMAND} -E env MNEMO_CACHE_DIR=${MNEMO_MODEL_CACHE}
    ${PROJECT_SOURCE_DIR}/scripts/fetch-cuda-pypi.sh)
  set_tests_properties(fetch_cuda_pypi PROPERTIES FIXTURES_SETUP cuda_pypi LABELS cuda)
  set(_cuda_check_args -DTorch_DIR=${Torch_DIR} -DGTest_DIR=${GTest_DIR}
    -Dnlohmann_json_DIR=${nlohmann_json_DIR}
    -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER} -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}
    -DMNEMO_WERROR=${MNEMO_WERROR})
  if(CCACHE_PROGRAM)
    list(APPEND _cuda_check_args -DCMAKE_CXX_COMPILER_LAUNCHER=${CCACHE_PROGRAM}
      -DCMAKE_CUDA_COMPILER_LAUNCHER=${CCACHE_PROGRAM})
  endif()
  string(REPLACE ";" "\\;" _cuda_check_args "${_cuda_check_args}")
  add_test(NAME cuda_compile_check COMMAND ${CMAKE_COMMAND}
    -DMNEMO_SOURCE_DIR=${PROJECT_SOURCE_DIR} -DBINARY_DIR=${PROJECT_BINARY_DIR}/cuda-compile-check
    -DCACHE_DIR=${MNEMO_MODEL_CACHE} -DGENERATOR=${CMAKE_GENERATOR}
    -DCONFIGURE_ARGS=${_cuda_check_args}
    -P ${PROJECT_SOURCE_DIR}/model/memory/cuda/compile_check.cmake)
  set_tests_properties(cuda_compile_check PROPERTIES FIXTURES_REQUIRED cuda_pypi LABELS cuda
    TIMEOUT 1200)
endif()
