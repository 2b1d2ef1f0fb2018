// `mnemo bench`: benchmarks, each a subcommand printing one JSON object on stdout (progress
// and errors go to stderr). `bench memory` runs the exact memory tier's benchmark
// (model/memory/benchmark/memory_benchmark.h), `bench index` the indexer's
// (server/bench/index_benchmark.h), `bench complete` inline completion's (complete_benchmark.h),
// `bench reopen` re-opening an index's memory (index_benchmark.h).
#pragma once

#include "model/memory/benchmark/memory_benchmark.h"
#include "server/bench/complete_benchmark.h"
#include "server/bench/index_benchmark.h"

namespace CLI {
class App;
}

namespace mnemo::server {

/// The options of every benchmark, one member per subcommand.
struct BenchOptions {
  model::memory::MemoryBenchmarkOptions memory;
  IndexBenchmarkOptions index;
  CompleteBenchmarkOptions complete;
  ReopenBenchmarkOptions reopen;
};

/// Adds the `bench` subcommand and its subcommands, with their options bound to `options`.
CLI::App* add_bench_command(CLI::App& app, BenchOptions& options);

/// Runs the benchmark chosen under `bench` (after parsing); with none, prints `bench`'s help
/// (the list of benchmarks) to stderr. Returns the process exit code: 0, 1 when the benchmark
/// fails, 2 on bad usage (bad option values included); messages go to stderr.
int run_bench(const CLI::App& bench, const BenchOptions& options);

}  // namespace mnemo::server
