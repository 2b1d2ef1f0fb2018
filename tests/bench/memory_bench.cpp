// Benchmark of the exact memory tier (not a test), as one JSON object: the argv
// front-end of model/memory/benchmark/memory_benchmark.h (which says what is measured) for
// the memory-only build, which has no `mnemo` (the full build runs `mnemo bench memory`).
//
//   memory_bench [--sizes 10000,100000,1000000,5000000] [--storage fp16|bf16|int8|fp32]
//                [--heads 4] [--kv-heads 2] [--layers 2] [--dim 64] [--block 64]
//                [--top-k 8] [--steps 30] [--file-tokens 4096] [--minmax] [--threads N] [--warm]
//                [--store DIR [--no-fsync]]
#include <nlohmann/json.hpp>

#include <cstdint>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "model/memory/benchmark/memory_benchmark.h"

namespace {

using mnemo::model::memory::MemoryBenchmarkOptions;

/// `text` as a whole number, or std::invalid_argument naming `flag`.
std::int64_t parse_integer(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  try {
    const std::int64_t value = std::stoll(text, &used);
    if (used == text.size()) return value;
  } catch (const std::logic_error&) {  // std::invalid_argument, std::out_of_range
  }
  throw std::invalid_argument(flag + ": \"" + text + "\" is not a whole number");
}

MemoryBenchmarkOptions parse_arguments(int argc, char** argv) {
  MemoryBenchmarkOptions o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    auto next_integer = [&] { return parse_integer(arg, next()); };
    if (arg == "--sizes") {
      o.sizes.clear();
      std::stringstream ss(next());
      for (std::string item; std::getline(ss, item, ',');)
        o.sizes.push_back(parse_integer(arg, item));
    } else if (arg == "--storage") {
      o.storage = next();
    } else if (arg == "--heads") {
      o.heads = next_integer();
    } else if (arg == "--kv-heads") {
      o.kv_heads = next_integer();
    } else if (arg == "--layers") {
      o.layers = next_integer();
    } else if (arg == "--dim") {
      o.head_dim = next_integer();
    } else if (arg == "--block") {
      o.block_size = next_integer();
    } else if (arg == "--top-k") {
      o.top_k = next_integer();
    } else if (arg == "--steps") {
      o.steps = next_integer();
    } else if (arg == "--file-tokens") {
      o.file_tokens = next_integer();
    } else if (arg == "--threads") {
      o.threads = static_cast<int>(next_integer());
    } else if (arg == "--store") {
      o.store_dir = next();
    } else if (arg == "--no-fsync") {
      o.durable = false;
    } else if (arg == "--minmax") {
      o.minmax = true;
    } else if (arg == "--warm") {
      o.warm = true;
    } else {
      throw std::invalid_argument("unknown argument " + arg);
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) try {
  const MemoryBenchmarkOptions options = parse_arguments(argc, argv);
  std::cout << mnemo::model::memory::run_memory_benchmark(options).dump(2) << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "memory_bench: " << e.what() << "\n";
  return 1;
}
