// The exact memory tier's benchmark (not a test): the latency of one decoding step's
// memory attention (every memory layer, every head) against the number of memory tokens, and
// the resident bytes per token, as one JSON object. Its front-ends only parse arguments:
// `mnemo bench memory` (server/cli/bench_command.cpp) and memory_bench
// (tests/bench/memory_bench.cpp), which the memory-only build has on the GPU machine.
//
// Each size has a tier of its own (files of random keys), all built first; then their steps
// run interleaved, so that every size sees the same machine (on a shared machine the memory
// bandwidth left to us drifts within seconds), and ratio_largest_to_100k compares medians
// measured side by side. Caches are evicted before each timed call, as the model's forward
// pass would between two steps (warm keeps them).
//
// With store_dir, the tier of the largest size is then saved into a new memory in that
// directory (one segment per file; replaced if there), freed, and loaded back with load_tier
// in both verification modes (exact_tier_store.h): "store" reports save_s, load_ms (kAtLoad:
// every byte checksummed), load_deferred_ms and verify_ms (kDeferred: return, then
// admit_pending), the process's RssAnon/RssFile per token after loading and after decoding
// steps, and the largest difference between the loaded tier's answers and the original's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mnemo::model::memory {

/// The benchmark's settings; each is a flag of both front-ends (named in the comment).
struct MemoryBenchmarkOptions {
  /// --sizes: memory sizes in tokens, measured from the smallest up.
  std::vector<std::int64_t> sizes{10'000, 100'000, 1'000'000, 5'000'000};
  std::string storage = "fp16";     ///< --storage: fp16, bf16, int8 or fp32 token blocks
  std::int64_t heads = 4;           ///< --heads: query heads (H)
  std::int64_t kv_heads = 2;        ///< --kv-heads: key/value heads (Hkv), H a multiple of it
  std::int64_t layers = 2;          ///< --layers: memory layers (L)
  std::int64_t head_dim = 64;       ///< --dim: D
  std::int64_t block_size = 64;     ///< --block: C tokens per block
  std::int64_t top_k = 8;           ///< --top-k: blocks retrieved per query head
  std::int64_t steps = 30;          ///< --steps: decoding steps measured per size
  std::int64_t file_tokens = 4096;  ///< --file-tokens: tokens of each added file
  bool minmax = false;              ///< --minmax: min/max block representatives, not the mean
  int threads = 0;                  ///< --threads: LibTorch's threads; 0 keeps its default
  std::string store_dir;            ///< --store: also save and load the largest tier here
  bool durable = true;              ///< with store_dir: fsync the store (--no-fsync clears it)
  bool warm = false;                ///< --warm: do not evict the caches between timed calls
};

/// What is wrong with `options`, naming the flag, or an empty string when they can run. The
/// tier checks the rest of its geometry itself (run_memory_benchmark throws then).
std::string memory_benchmark_options_error(const MemoryBenchmarkOptions& options);

/// Runs the benchmark: {"config", "results" (one object per size, each with tokens, median_ms,
/// resident_bytes_per_token...), "ratio_largest_to_100k" (when 100000 is among the sizes),
/// "store" (with store_dir)}. Progress lines go to std::cerr. Sets LibTorch's random seed
/// (and thread count, with threads), so it suits a process of its own. Throws
/// std::invalid_argument for invalid options (memory_benchmark_options_error), and
/// std::runtime_error or LibTorch's errors when the tier or the store fails.
nlohmann::json run_memory_benchmark(const MemoryBenchmarkOptions& options);

}  // namespace mnemo::model::memory
