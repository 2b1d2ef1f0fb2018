# Long-term memory persistence: included by tests/CMakeLists.txt.
mnemo_gtest(memory_store_tests TORCH LIBS mnemo_memory_store SOURCES
  unit/memory_store_tests.cpp)

# Benchmark (not a test): builds a 5M-token memory and prints
# {tokens, bytes, segments, load_ms, verify_ms} as JSON.
add_executable(memory_store_bench bench/memory_store_bench.cpp)
target_link_libraries(memory_store_bench PRIVATE mnemo_memory_store nlohmann_json::nlohmann_json
  mnemo_warnings)
target_precompile_headers(memory_store_bench REUSE_FROM mnemo_attention)
