#include "server/cli/bench_command.h"

#include <exception>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace mnemo::server {
namespace {

void add_memory_options(CLI::App& cmd, model::memory::MemoryBenchmarkOptions& o) {
  cmd.add_option("--sizes", o.sizes, "memory sizes in tokens, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  cmd.add_option("--storage", o.storage, "token blocks: fp16, bf16, int8 or fp32")
      ->capture_default_str();
  cmd.add_option("--heads", o.heads, "query heads")->capture_default_str();
  cmd.add_option("--kv-heads", o.kv_heads, "key/value heads (--heads a multiple of it)")
      ->capture_default_str();
  cmd.add_option("--layers", o.layers, "memory layers")->capture_default_str();
  cmd.add_option("--dim", o.head_dim, "head dimension")->capture_default_str();
  cmd.add_option("--block", o.block_size, "tokens per block")->capture_default_str();
  cmd.add_option("--top-k", o.top_k, "blocks retrieved per query head")->capture_default_str();
  cmd.add_option("--steps", o.steps, "decoding steps measured per size")->capture_default_str();
  cmd.add_option("--file-tokens", o.file_tokens, "tokens of each file added to the memory")
      ->capture_default_str();
  cmd.add_flag("--minmax", o.minmax, "min/max block representatives instead of the mean");
  cmd.add_option("--threads", o.threads, "CPU threads (0: LibTorch's default)");
  cmd.add_flag("--warm", o.warm,
               "keep the caches between timed calls (by default they are evicted, as the "
               "model's forward pass would between two decoding steps)");
  auto* store = cmd.add_option("--store", o.store_dir,
                               "also save the largest memory into this folder (replaced) and "
                               "measure loading it back");
  cmd.add_flag_callback(
         "--no-fsync", [&o] { o.durable = false; }, "with --store: do not fsync the store's files")
      ->needs(store);
}

/// Runs a benchmark and prints its JSON object; a failure is reported under its name.
template <typename Options>
int run_json(const char* name, nlohmann::json (*run)(const Options&), const Options& options) {
  try {
    std::cout << run(options).dump(2) << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "mnemo bench " << name << ": " << e.what() << "\n";
    return 1;
  }
}

int run_memory(const model::memory::MemoryBenchmarkOptions& options) {
  if (const std::string error = model::memory::memory_benchmark_options_error(options);
      !error.empty()) {
    std::cerr << "mnemo bench memory: " << error << "\n";
    return 2;
  }
  return run_json("memory", model::memory::run_memory_benchmark, options);
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app, BenchOptions& options) {
  auto* bench = app.add_subcommand("bench", "Run a benchmark; prints one JSON object");
  auto* memory = bench->add_subcommand(
      "memory", "The memory's exact tier: step latency and bytes per token against its size");
  add_memory_options(*memory, options.memory);
  auto* index = bench->add_subcommand(
      "index", "The indexer on a tree: walk and hash, libclang, model forward, memory, re-open");
  IndexBenchmarkOptions& io = options.index;
  index->add_option("path", io.root, "the repository")->required();
  index->add_option("--model", io.model, "also stream the files through this model");
  index->add_option("--jobs,-j", io.jobs, "parse jobs (default: one per hardware thread)");
  index->add_option("--memory-window", io.window, "tokens of context per window")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  index->add_flag("--keep", io.keep, "keep the temporary index");
  auto* reopen = bench->add_subcommand(
      "reopen", "Re-opening the memory of a repository that `mnemo index --model` indexed");
  ReopenBenchmarkOptions& ro = options.reopen;
  reopen->add_option("path", ro.root, "the repository")->required();
  reopen->add_option("--model", ro.model, "the model it was indexed with")->required();
  reopen->add_option("--index-dir", ro.index_dir, "the index (default: PATH/.mnemo)");
  reopen->add_option("--memory-window", ro.window, "tokens of context per window")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  reopen->add_flag("--drop-caches", ro.drop_caches,
                   "empty the page cache first, as after a reboot (root only)");
  auto* complete = bench->add_subcommand(
      "complete", "Inline completion: latency against the memory's size (random memory)");
  CompleteBenchmarkOptions& co = options.complete;
  complete->add_option("--model", co.model, "the model")->required();
  complete->add_option("--repo", co.repo, "the tree whose C/C++ files give the prompts")
      ->capture_default_str();
  complete->add_option("--sizes", co.sizes, "memory sizes in tokens, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  complete->add_option("--queries", co.queries, "cursors sampled from the tree")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  complete->add_option("--max-tokens", co.max_tokens, "tokens each completion generates")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  complete->add_option("--prefix-tokens", co.prefix_tokens)->capture_default_str();
  complete->add_option("--suffix-tokens", co.suffix_tokens)->capture_default_str();
  complete->add_option("--seed", co.seed)->capture_default_str();
  complete
      ->add_option("--next-token-weight", co.next_token_weight,
                   "the memory's share of each next token (0: its votes off)")
      ->capture_default_str();
  return bench;
}

int run_bench(const CLI::App& bench, const BenchOptions& options) {
  if (bench.got_subcommand("memory")) return run_memory(options.memory);
  if (bench.got_subcommand("complete"))
    return run_json("complete", run_complete_benchmark, options.complete);
  if (bench.got_subcommand("index")) return run_json("index", run_index_benchmark, options.index);
  if (bench.got_subcommand("reopen"))
    return run_json("reopen", run_reopen_benchmark, options.reopen);
  std::cerr << bench.help("mnemo");
  return 2;
}

}  // namespace mnemo::server
