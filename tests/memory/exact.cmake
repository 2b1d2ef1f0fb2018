# Exact tier of the long-term memory: its tests and the memory benchmark.
# Included from tests/CMakeLists.txt.
mnemo_gtest(memory_exact_tests TORCH LIBS mnemo_memory_exact SOURCES
  unit/memory_exact_tests.cpp unit/memory_next_token_tests.cpp)

# Benchmark (not a test): latency of one decode step's memory attention against the number
# of memory tokens, as JSON. The argv front-end of model/memory/benchmark for the memory-only
# build (the full build has it as `mnemo bench memory`).
add_executable(memory_bench bench/memory_bench.cpp)
target_link_libraries(memory_bench PRIVATE mnemo_memory_benchmark mnemo_warnings)

# The exact tier through the memory store: round trip, corruption, configuration, replace.
mnemo_gtest(memory_exact_store_tests TORCH LIBS mnemo_memory_exact SOURCES
  unit/memory_exact_store_tests.cpp)

# The quantized selection's fused first pass, each instruction-set version against the
# portable one.
mnemo_gtest(int8_selection_tests TORCH LIBS mnemo_memory_exact SOURCES
  unit/int8_selection_tests.cpp)
