// Benchmark of the exact memory tier (issue 4; not a test): the latency of one decoding
// step's memory attention (every memory layer, every head) against the number of memory
// tokens, and the resident bytes per token. Prints one JSON object.
//
//   memory_bench [--sizes 10000,100000,1000000,5000000] [--storage fp16|bf16|int8|fp32]
//                [--heads 4] [--kv-heads 2] [--layers 2] [--dim 64] [--block 64]
//                [--top-k 8] [--steps 30] [--file-tokens 4096] [--minmax] [--threads N]
//
// The memory grows through the sizes (files of random keys are added), so each size is
// measured on the same tier as the previous one plus new files.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "model/memory/block_kernels.h"
#include "model/memory/exact/block_kernels_cpu.h"
#include "model/memory/exact/exact_tier.h"

namespace {

using mnemo::model::memory::BlockRepresentative;
using mnemo::model::memory::ExactStorage;
using mnemo::model::memory::ExactTier;
using mnemo::model::memory::ExactTierConfig;
using mnemo::model::memory::MemoryQuery;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(std::lround(p * static_cast<double>(v.size() - 1)));
  return v[i];
}

ExactStorage parse_storage(const std::string& s) {
  if (s == "fp32") return ExactStorage::kFloat32;
  if (s == "bf16") return ExactStorage::kBFloat16;
  if (s == "int8") return ExactStorage::kInt8;
  if (s == "fp16") return ExactStorage::kFloat16;
  throw std::invalid_argument("--storage: fp16, bf16, int8 or fp32");
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::int64_t> sizes{10'000, 100'000, 1'000'000, 5'000'000};
  std::string storage = "fp16";
  ExactTierConfig c;
  c.n_layers = 2;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.head_dim = 64;
  std::int64_t steps = 30, file_tokens = 4096;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--sizes") {
      sizes.clear();
      std::stringstream ss(next());
      for (std::string item; std::getline(ss, item, ',');) sizes.push_back(std::stoll(item));
    } else if (arg == "--storage") {
      storage = next();
    } else if (arg == "--heads") {
      c.n_head = std::stoll(next());
    } else if (arg == "--kv-heads") {
      c.n_head_kv = std::stoll(next());
    } else if (arg == "--layers") {
      c.n_layers = std::stoul(next());
    } else if (arg == "--dim") {
      c.head_dim = std::stoll(next());
    } else if (arg == "--block") {
      c.block_size = std::stoll(next());
    } else if (arg == "--top-k") {
      c.top_k = std::stoll(next());
    } else if (arg == "--steps") {
      steps = std::stoll(next());
    } else if (arg == "--file-tokens") {
      file_tokens = std::stoll(next());
    } else if (arg == "--threads") {
      at::set_num_threads(static_cast<int>(std::stol(next())));
    } else if (arg == "--minmax") {
      c.representative = BlockRepresentative::kMinMax;
    } else {
      throw std::invalid_argument("unknown argument " + arg);
    }
  }
  c.storage = parse_storage(storage);
  std::sort(sizes.begin(), sizes.end());

  at::manual_seed(0);
  ExactTier tier(c);
  // Room for every block (files end in partial blocks) without regrowing.
  tier.reserve(sizes.back() + (sizes.back() / file_tokens + 1) * c.block_size);
  const auto l = static_cast<std::int64_t>(c.n_layers);
  // Values do not change the cost: one pool, sliced per file. Keys are fresh per file.
  const at::Tensor value_pool = at::randn({l, c.n_head_kv, file_tokens, c.head_dim});

  nlohmann::json out;
  out["config"] = {
      {"layers", c.n_layers},
      {"heads", c.n_head},
      {"kv_heads", c.n_head_kv},
      {"head_dim", c.head_dim},
      {"block_size", c.block_size},
      {"top_k", c.top_k},
      {"storage", storage},
      {"steps", steps},
      {"file_tokens", file_tokens},
      {"threads", at::get_num_threads()},
      {"representative", c.representative == BlockRepresentative::kMean ? "mean" : "minmax"}};
  out["results"] = nlohmann::json::array();
  std::int64_t tokens = 0, file_index = 0;
  double median_100k = 0;
  for (const std::int64_t size : sizes) {
    const auto build_start = Clock::now();
    const std::int64_t before = tokens;
    while (tokens < size) {
      const std::int64_t n = std::min(file_tokens, size - tokens);
      tier.add_file("src/file" + std::to_string(file_index++) + ".cpp",
                    at::randn({l, c.n_head_kv, n, c.head_dim}), value_pool.narrow(2, 0, n));
      tokens += n;
    }
    const double build_ms = ms_since(build_start);

    std::vector<double> latencies, select_ms;
    for (std::int64_t step = -3; step < steps; ++step) {
      std::vector<MemoryQuery> queries(c.n_layers);
      for (std::size_t layer = 0; layer < c.n_layers; ++layer) {
        queries[layer].layer = layer;
        queries[layer].q_raw = at::randn({c.n_head, c.head_dim});
        queries[layer].q_rot = at::randn({c.n_head, c.head_dim});
        queries[layer].window_start = 4096;
        queries[layer].scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
      }
      const auto start = Clock::now();
      for (const auto& q : queries) tier.attend(q);
      if (step >= 0) latencies.push_back(ms_since(start));
      // Block selection alone (scoring, top-k, ordering), for the breakdown.
      const auto select_start = Clock::now();
      for (const auto& q : queries) tier.retrieve(q.layer, q.q_raw);
      if (step >= 0) select_ms.push_back(ms_since(select_start));
    }
    // The kernels alone on a layer's worth of blocks laid out as the tier holds them (tiles
    // of 16 blocks, fp16).
    const std::int64_t n_blocks = tier.stats().resident_blocks;
    const at::Tensor reps =
        at::randn({c.n_head_kv, (n_blocks + 15) / 16, c.head_dim, 16}).to(at::kHalf);
    at::Tensor scores = at::empty({c.n_head, n_blocks});
    const at::Tensor q = at::randn({c.n_head, c.head_dim});
    std::vector<double> score_ms, top_k_ms;
    for (std::int64_t step = -3; step < steps; ++step) {
      auto start = Clock::now();
      mnemo::model::memory::cpu::score_tiles_into(q, reps, n_blocks, scores);
      const double scored = ms_since(start);
      start = Clock::now();
      mnemo::model::memory::top_k_blocks(scores, c.top_k);
      if (step >= 0) score_ms.push_back(scored), top_k_ms.push_back(ms_since(start));
    }
    const auto s = tier.stats();
    const double median = percentile(latencies, 0.5);
    if (size == 100'000) median_100k = median;
    // The representatives every step reads: L x Hkv x blocks x D x 2 bytes (x2 for min/max).
    const double rep_bytes =
        static_cast<double>(l * c.n_head_kv * s.resident_blocks * c.head_dim * 2 *
                            (c.representative == BlockRepresentative::kMean ? 1 : 2));
    out["results"].push_back(
        {{"tokens", s.tokens},
         {"blocks", s.blocks},
         {"median_ms", median},
         {"p90_ms", percentile(latencies, 0.9)},
         {"min_ms", percentile(latencies, 0.0)},
         {"representative_gb_per_s", rep_bytes / (median * 1e6)},
         {"resident_bytes", s.resident_bytes},
         {"resident_bytes_per_token",
          static_cast<double>(s.resident_bytes) / static_cast<double>(s.tokens)},
         {"token_bytes_per_token",
          static_cast<double>(s.token_bytes) / static_cast<double>(s.tokens)},
         {"representative_bytes_per_token",
          static_cast<double>(s.representative_bytes) / static_cast<double>(s.tokens)},
         {"selection_median_ms", percentile(select_ms, 0.5)},
         {"score_tiles_median_ms_per_layer", percentile(score_ms, 0.5)},
         {"top_k_blocks_median_ms_per_layer", percentile(top_k_ms, 0.5)},
         {"build_ms", build_ms},
         {"build_tokens_per_s", static_cast<double>(tokens - before) / (build_ms / 1e3)}});
    if (size == sizes.back() && median_100k > 0)
      out["ratio_largest_to_100k"] = median / median_100k;
    std::cerr << "measured " << size << " tokens: median " << median << " ms\n";
  }
  std::cout << out.dump(2) << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "memory_bench: " << e.what() << "\n";
  return 1;
}
