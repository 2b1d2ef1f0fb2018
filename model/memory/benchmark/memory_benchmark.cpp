#include "model/memory/benchmark/memory_benchmark.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <malloc.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <shared_mutex>
#include <stdexcept>
#include <utility>

#include "model/memory/block_kernels.h"
#include "model/memory/exact/block_kernels_cpu.h"
#include "model/memory/exact/exact_tier.h"
#include "model/memory/exact/exact_tier_store.h"
#include "model/memory/exact/kernel_isa.h"

namespace mnemo::model::memory {
namespace {

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

const std::map<std::string, ExactStorage>& storages() {
  static const std::map<std::string, ExactStorage> names{{"fp16", ExactStorage::kFloat16},
                                                         {"bf16", ExactStorage::kBFloat16},
                                                         {"int8", ExactStorage::kInt8},
                                                         {"fp32", ExactStorage::kFloat32}};
  return names;
}

ExactTierConfig tier_config(const MemoryBenchmarkOptions& o) {
  ExactTierConfig c;
  c.n_layers = static_cast<std::size_t>(o.layers);
  c.n_head = o.heads;
  c.n_head_kv = o.kv_heads;
  c.head_dim = o.head_dim;
  c.block_size = o.block_size;
  c.top_k = o.top_k;
  c.storage = storages().at(o.storage);
  if (o.minmax) c.representative = BlockRepresentative::kMinMax;
  return c;
}

/// Evicts the caches between timed calls: in a decoding step the model's forward pass (its
/// weights, tens of MB and more) runs between two calls of the memory, so a step finds
/// little of the memory in cache. Writing a buffer twice the last-level cache's size (at
/// least 64 MiB; read, as the weights are, so that no dirty line has to be written back
/// during the timed call) leaves none of it there.
class CacheEvictor {
 public:
  CacheEvictor() {
    const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    const std::size_t bytes =
        std::max<std::size_t>(std::size_t{64} << 20, l3 > 0 ? 2 * static_cast<std::size_t>(l3) : 0);
    buffer_.assign(bytes, 1);
  }
  void evict() {
    unsigned sum = 0;
    for (std::size_t i = 0; i < buffer_.size(); i += 64) sum += buffer_[i];
    sink_ = sink_ + sum;
  }

 private:
  std::vector<unsigned char> buffer_;
  volatile unsigned sink_ = 0;  // keeps the reads
};

/// One size's tier and what its steps measured.
struct SizedTier {
  std::int64_t size = 0;
  std::unique_ptr<ExactTier> tier;
  double build_ms = 0;
  std::vector<double> latencies, select_ms;
};

/// A tier of `size` tokens of random keys in files of `file_tokens` tokens.
std::unique_ptr<ExactTier> build_tier(const MemoryBenchmarkOptions& options, std::int64_t size,
                                      const at::Tensor& value_pool) {
  auto tier = std::make_unique<ExactTier>(tier_config(options));
  const ExactTierConfig& c = tier->config();
  // Room for every block (files end in partial blocks) without regrowing.
  tier->reserve(size + (size / options.file_tokens + 1) * c.block_size);
  const auto l = static_cast<std::int64_t>(c.n_layers);
  for (std::int64_t tokens = 0, file = 0; tokens < size; ++file) {
    const std::int64_t n = std::min(options.file_tokens, size - tokens);
    tier->add_file("src/file" + std::to_string(file) + ".cpp",
                   at::randn({l, c.n_head_kv, n, c.head_dim}), value_pool.narrow(2, 0, n));
    tokens += n;
  }
  return tier;
}

/// The decoding steps of every size, interleaved (round r times step r of each size in
/// turn, after 3 rounds to warm up), so that all sizes see the same machine: on a shared
/// machine the memory bandwidth left to us drifts within seconds. Each timed call (one
/// step's attention over every layer; then, for the breakdown, block selection alone)
/// starts with evicted caches unless `warm`.
void measure_interleaved(std::vector<SizedTier>& tiers, std::int64_t steps, bool warm) {
  CacheEvictor evictor;
  for (std::int64_t round = -3; round < steps; ++round) {
    for (SizedTier& t : tiers) {
      const std::vector<MemoryQuery> queries = random_queries(t.tier->config());
      if (!warm) evictor.evict();
      const auto start = Clock::now();
      for (const auto& q : queries) t.tier->attend(q);
      if (round >= 0) t.latencies.push_back(ms_since(start));
      if (!warm) evictor.evict();
      const auto select_start = Clock::now();
      for (const auto& q : queries) t.tier->retrieve(q.layer, q.q_raw);
      if (round >= 0) t.select_ms.push_back(ms_since(select_start));
    }
  }
}

/// The measured steps of one size, the kernels' share of them and the tier's bytes per
/// token.
nlohmann::json step_results(const SizedTier& t, std::int64_t steps) {
  const ExactTier& tier = *t.tier;
  const ExactTierConfig& c = tier.config();
  // The flat scan's kernels alone on a layer's worth of blocks laid out as the tier holds
  // them (tiles of 16 blocks, fp16), caches warm: what kFlat selection would cost.
  const std::int64_t n_blocks = tier.stats().resident_blocks;
  const at::Tensor reps =
      at::randn({c.n_head_kv, (n_blocks + 15) / 16, c.head_dim, 16}).to(at::kHalf);
  at::Tensor scores = at::empty({c.n_head, n_blocks});
  const at::Tensor q = at::randn({c.n_head, c.head_dim});
  std::vector<double> score_ms, top_k_ms;
  for (std::int64_t step = -3; step < steps; ++step) {
    auto start = Clock::now();
    cpu::score_tiles_into(q, reps, n_blocks, scores);
    const double scored = ms_since(start);
    start = Clock::now();
    top_k_blocks(scores, c.top_k);
    if (step >= 0) score_ms.push_back(scored), top_k_ms.push_back(ms_since(start));
  }
  const auto s = tier.stats();
  const double median = percentile(t.latencies, 0.5);
  // The representatives every step reads: L x Hkv x blocks x D x 2 bytes (x2 for min/max).
  const double rep_bytes = static_cast<double>(
      static_cast<std::int64_t>(c.n_layers) * c.n_head_kv * s.resident_blocks * c.head_dim * 2 *
      (c.representative == BlockRepresentative::kMean ? 1 : 2));
  const auto tokens = static_cast<double>(s.tokens);
  return {{"tokens", s.tokens},
          {"blocks", s.blocks},
          {"build_ms", t.build_ms},
          {"build_tokens_per_s", tokens / (t.build_ms / 1e3)},
          {"median_ms", median},
          {"p90_ms", percentile(t.latencies, 0.9)},
          {"min_ms", percentile(t.latencies, 0.0)},
          {"representative_gb_per_s", rep_bytes / (median * 1e6)},
          {"resident_bytes", s.resident_bytes},
          {"resident_bytes_per_token", static_cast<double>(s.resident_bytes) / tokens},
          {"token_bytes_per_token", static_cast<double>(s.token_bytes) / tokens},
          {"representative_bytes_per_token", static_cast<double>(s.representative_bytes) / tokens},
          {"selection_median_ms", percentile(t.select_ms, 0.5)},
          {"selection_fallbacks", s.selection_fallbacks},
          {"flat_score_tiles_median_ms_per_layer", percentile(score_ms, 0.5)},
          {"flat_top_k_blocks_median_ms_per_layer", percentile(top_k_ms, 0.5)}};
}

/// Saves `tier` into a new memory in `dir`, frees it, loads it back in both modes (see the
/// file comment of memory_benchmark.h) and returns the measurements.
nlohmann::json bench_store(const std::string& dir, bool durable, std::unique_ptr<ExactTier> tier,
                           std::int64_t steps) {
  const ExactTierConfig c = tier->config();
  const auto stats = tier->stats();
  const auto tokens = static_cast<double>(stats.tokens);
  nlohmann::json out;
  out["durable"] = durable;
  std::vector<std::vector<MemoryQuery>> queries;
  std::vector<std::vector<AttentionOutput>> expected;
  for (int i = 0; i < 4; ++i) {
    queries.push_back(random_queries(c));
    expected.emplace_back();
    for (const auto& q : queries.back()) expected.back().push_back(tier->attend(q));
  }
  {
    auto created = store::MemoryStore::create(dir, store_fields(c), store::StoreOptions{durable});
    if (!created) throw std::runtime_error(created.error().message);
    const auto start = Clock::now();
    for (const std::string& id : tier->file_ids()) {
      auto saved = save_file(*created.value(), *tier, id, {{"source", id}});
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
  auto opened = store::MemoryStore::open(dir, store_fields(c));
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
    auto loaded = load_tier(*opened.value(), c, options);
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
      const auto problems = admit_pending(t, lock, loaded.value().pending);
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

std::string memory_benchmark_options_error(const MemoryBenchmarkOptions& o) {
  if (o.sizes.empty()) return "--sizes: no size given";
  for (const std::int64_t size : o.sizes) {
    if (size <= 0) return "--sizes: " + std::to_string(size) + " is not a positive size";
  }
  if (storages().count(o.storage) == 0)
    return "--storage: fp16, bf16, int8 or fp32, not \"" + o.storage + "\"";
  const std::pair<const char*, std::int64_t> positive[] = {
      {"--heads", o.heads},  {"--kv-heads", o.kv_heads},      {"--layers", o.layers},
      {"--dim", o.head_dim}, {"--block", o.block_size},       {"--top-k", o.top_k},
      {"--steps", o.steps},  {"--file-tokens", o.file_tokens}};
  for (const auto& [flag, value] : positive) {
    if (value <= 0) return std::string(flag) + ": " + std::to_string(value) + " is not positive";
  }
  if (o.heads % o.kv_heads != 0) {
    return "--heads " + std::to_string(o.heads) + " is not a multiple of --kv-heads " +
           std::to_string(o.kv_heads);
  }
  if (o.threads < 0) return "--threads: " + std::to_string(o.threads) + " is negative";
  return {};
}

nlohmann::json run_memory_benchmark(const MemoryBenchmarkOptions& options) {
  if (const std::string error = memory_benchmark_options_error(options); !error.empty())
    throw std::invalid_argument(error);
  if (options.threads > 0) at::set_num_threads(options.threads);
  std::vector<std::int64_t> sizes = options.sizes;
  std::sort(sizes.begin(), sizes.end());

  at::manual_seed(0);
  const ExactTierConfig c = tier_config(options);
  // Values do not change the cost: one pool, sliced per file. Keys are fresh per file.
  const at::Tensor value_pool = at::randn(
      {static_cast<std::int64_t>(c.n_layers), c.n_head_kv, options.file_tokens, c.head_dim});

  nlohmann::json out;
  out["config"] = {
      {"layers", c.n_layers},
      {"heads", c.n_head},
      {"kv_heads", c.n_head_kv},
      {"head_dim", c.head_dim},
      {"block_size", c.block_size},
      {"top_k", c.top_k},
      {"storage", options.storage},
      {"steps", options.steps},
      {"file_tokens", options.file_tokens},
      {"threads", at::get_num_threads()},
      {"caches", options.warm ? "warm" : "evicted before each timed call"},
      {"kernel_isa", cpu::kernel_isa_name(cpu::kernel_isa())},
      {"representative", c.representative == BlockRepresentative::kMean ? "mean" : "minmax"}};
  std::vector<SizedTier> tiers;
  for (const std::int64_t size : sizes) {
    SizedTier t;
    t.size = size;
    const auto build_start = Clock::now();
    t.tier = build_tier(options, size, value_pool);
    t.build_ms = ms_since(build_start);
    std::cerr << "built " << size << " tokens in " << t.build_ms << " ms\n";
    tiers.push_back(std::move(t));
  }
  measure_interleaved(tiers, options.steps, options.warm);
  out["results"] = nlohmann::json::array();
  double median_100k = 0;
  for (const SizedTier& t : tiers) {
    nlohmann::json result = step_results(t, options.steps);
    const double median = result["median_ms"].get<double>();
    std::cerr << "measured " << t.size << " tokens: median " << median << " ms\n";
    if (t.size == 100'000) median_100k = median;
    if (t.size == sizes.back() && median_100k > 0)
      out["ratio_largest_to_100k"] = median / median_100k;
    out["results"].push_back(std::move(result));
  }
  std::unique_ptr<ExactTier> tier_owner = std::move(tiers.back().tier);
  tiers.clear();  // the smaller tiers' memory back before the store is measured
  if (!options.store_dir.empty()) {
    out["store"] =
        bench_store(options.store_dir, options.durable, std::move(tier_owner), options.steps);
  }
  return out;
}

}  // namespace mnemo::model::memory
