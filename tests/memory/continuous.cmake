# The ∞-former continuous tier: ridge fit, closed form, updates, module.
mnemo_gtest(memory_continuous_tests TORCH LIBS mnemo_memory_continuous SOURCES
  unit/memory_continuous_tests.cpp)
