// Benchmark of the exact memory tier (issue 4; not a test): the latency of one decoding
// step's memory attention (every memory layer, every head) against the number of memory
// tokens, and the resident bytes per token. Prints one JSON object.
//
//   memory_bench [--sizes 10000,100000,1000000,5000000] [--storage fp16|bf16|int8|fp32]
//                [--heads 4] [--kv-heads 2] [--layers 2] [--dim 64] [--block 64]
//                [--top-k 8] [--steps 30] [--file-tokens 4096] [--minmax] [--threads N]
//                [--store DIR [--no-fsync]]
//
// With --store, the tier of the largest size is then saved into a new memory in DIR (one
// segment per file; replaced if there), freed, and loaded back with load_tier in both
// verification modes (exact_tier_store.h): "store" reports save_s, load_ms (kAtLoad: every
// byte checksummed), load_deferred_ms and verify_ms (kDeferred: return, then admit_pending),
// the process's RssAnon/RssFile per token after loading and after decoding steps, and the
// largest difference between the loaded tier's answers and the original's.
//
// The memory grows through the sizes (files of random keys are added), so each size is
// measured on the same tier as the previous one plus new files.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <malloc.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <shared_mutex>
#include <sstream>
#include <string>
#include <vector>

#include "model/memory/block_kernels.h"
#include "model/memory/exact/block_kernels_cpu.h"
#include "model/memory/exact/exact_tier.h"
#include "model/memory/exact/exact_tier_store.h"

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

/// Fields of /proc/self/status in bytes (VmRSS, RssAnon, RssFile).
std::map<std::string, double> memory_status() {
  std::map<std::string, double> out;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    for (const char* name : {"VmRSS", "RssAnon", "RssFile"}) {
      const std::string prefix = std::string(name) + ":";
      if (line.rfind(prefix, 0) == 0) out[name] = std::stod(line.substr(prefix.size())) * 1024.0;
    }
  }
  return out;
}

std::vector<MemoryQuery> random_queries(const ExactTierConfig& c) {
  std::vector<MemoryQuery> queries(c.n_layers);
  for (std::size_t layer = 0; layer < c.n_layers; ++layer) {
    queries[layer].layer = layer;
    queries[layer].q_raw = at::randn({c.n_head, c.head_dim});
    queries[layer].q_rot = at::randn({c.n_head, c.head_dim});
    queries[layer].window_start = 4096;
    queries[layer].scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
  }
  return queries;
}

ExactStorage parse_storage(const std::string& s) {
  if (s == "fp32") return ExactStorage::kFloat32;
  if (s == "bf16") return ExactStorage::kBFloat16;
  if (s == "int8") return ExactStorage::kInt8;
  if (s == "fp16") return ExactStorage::kFloat16;
  throw std::invalid_argument("--storage: fp16, bf16, int8 or fp32");
}

/// Saves `tier` into a new memory in `dir`, frees it, loads it back in both modes (see the
/// file comment) and returns the measurements.
nlohmann::json bench_store(const std::string& dir, bool durable, std::unique_ptr<ExactTier> tier,
                           std::int64_t steps) {
  namespace store = mnemo::model::memory::store;
  using mnemo::model::memory::LoadTierOptions;
  const ExactTierConfig c = tier->config();
  const auto stats = tier->stats();
  const auto tokens = static_cast<double>(stats.tokens);
  nlohmann::json out;
  out["durable"] = durable;
  std::vector<std::vector<MemoryQuery>> queries;
  std::vector<std::vector<mnemo::model::AttentionOutput>> expected;
  for (int i = 0; i < 4; ++i) {
    queries.push_back(random_queries(c));
    expected.emplace_back();
    for (const auto& q : queries.back()) expected.back().push_back(tier->attend(q));
  }
  {
    auto created = store::MemoryStore::create(dir, mnemo::model::memory::store_fields(c),
                                              store::StoreOptions{durable});
    if (!created) throw std::runtime_error(created.error().message);
    const auto start = Clock::now();
    for (const std::string& id : tier->file_ids()) {
      auto saved = mnemo::model::memory::save_file(*created.value(), *tier, id, {{"source", id}});
      if (!saved) throw std::runtime_error(saved.error().message);
    }
    out["save_s"] = ms_since(start) / 1e3;
  }
  tier.reset();
  malloc_trim(0);  // give the freed tier back to the system, so RSS shows the loaded one
  std::uintmax_t disk_bytes = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(dir) / "segments"))
    disk_bytes += entry.file_size();
  out["disk_bytes_per_token"] = static_cast<double>(disk_bytes) / tokens;
  auto opened = store::MemoryStore::open(dir, mnemo::model::memory::store_fields(c));
  if (!opened) throw std::runtime_error(opened.error().message);
  // The process's resident memory, and what loading added to it, per memory token.
  const std::map<std::string, double> before_load = memory_status();
  const auto per_token = [&](const std::map<std::string, double>& m) {
    nlohmann::json j;
    for (const auto& [name, bytes] : m) {
      j[name + "_added_per_token"] = (bytes - before_load.at(name)) / tokens;
    }
    return j;
  };
  nlohmann::json baseline;
  for (const auto& [name, bytes] : before_load) baseline[name + "_bytes"] = bytes;
  out["rss_before_load"] = baseline;

  for (const auto check :
       {LoadTierOptions::TokenCheck::kAtLoad, LoadTierOptions::TokenCheck::kDeferred}) {
    const bool deferred = check == LoadTierOptions::TokenCheck::kDeferred;
    nlohmann::json j;
    LoadTierOptions options;
    options.token_check = check;
    const auto start = Clock::now();
    auto loaded = mnemo::model::memory::load_tier(*opened.value(), c, options);
    if (!loaded) throw std::runtime_error(loaded.error().message);
    j["load_ms"] = ms_since(start);
    j["store_load_ms"] = loaded.value().stats.store_load_ms;
    j["adopt_ms"] = loaded.value().stats.adopt_ms;
    j["segments"] = loaded.value().stats.segments;
    j["to_reindex"] = loaded.value().to_reindex.size();
    ExactTier& t = *loaded.value().tier;
    if (deferred) {
      std::shared_mutex lock;
      const auto verify_start = Clock::now();
      const auto problems = mnemo::model::memory::admit_pending(t, lock, loaded.value().pending);
      j["verify_ms"] = ms_since(verify_start);
      j["to_reindex"] = problems.size() + loaded.value().to_reindex.size();
    }
    j["rss_after_load"] = per_token(memory_status());
    const auto s = t.stats();
    j["stats_token_bytes_per_token"] = static_cast<double>(s.token_bytes) / tokens;
    j["stats_representative_bytes_per_token"] =
        static_cast<double>(s.representative_bytes) / tokens;
    j["mapped_bytes_per_token"] = static_cast<double>(loaded.value().stats.mapped_bytes) / tokens;
    double worst = 0;
    for (std::size_t i = 0; i < queries.size(); ++i) {
      for (std::size_t layer = 0; layer < queries[i].size(); ++layer) {
        const auto got = t.attend(queries[i][layer]);
        worst = std::max(worst, (got.o - expected[i][layer].o).abs().max().item<double>());
        worst = std::max(worst, (got.lse - expected[i][layer].lse).abs().max().item<double>());
      }
    }
    j["max_abs_diff_vs_original"] = worst;
    std::vector<double> latencies;
    for (std::int64_t step = 0; step < steps; ++step) {
      const auto qs = random_queries(c);
      const auto step_start = Clock::now();
      for (const auto& q : qs) t.attend(q);
      latencies.push_back(ms_since(step_start));
    }
    j["step_median_ms"] = percentile(latencies, 0.5);
    j["rss_after_steps"] = per_token(memory_status());
    out[deferred ? "deferred" : "at_load"] = j;
    std::cerr << "loaded " << (deferred ? "deferred" : "at load") << " in " << j["load_ms"]
              << " ms\n";
  }
  return out;
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
  std::string store_dir;
  bool durable = true;
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
    } else if (arg == "--store") {
      store_dir = next();
    } else if (arg == "--no-fsync") {
      durable = false;
    } else if (arg == "--minmax") {
      c.representative = BlockRepresentative::kMinMax;
    } else {
      throw std::invalid_argument("unknown argument " + arg);
    }
  }
  c.storage = parse_storage(storage);
  std::sort(sizes.begin(), sizes.end());

  at::manual_seed(0);
  auto tier_owner = std::make_unique<ExactTier>(c);
  ExactTier& tier = *tier_owner;
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
      const std::vector<MemoryQuery> queries = random_queries(c);
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
  if (!store_dir.empty())
    out["store"] = bench_store(store_dir, durable, std::move(tier_owner), steps);
  std::cout << out.dump(2) << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "memory_bench: " << e.what() << "\n";
  return 1;
}
