// Benchmark (not a test): builds a memory of N tokens (default 5M) in 250-token segments,
// 2 layers × 2 KV heads × 64 dims, fp16 keys and values plus fp16 block representatives
// (64-token blocks) and int32 counts, then times load() (eager: representatives, counts)
// and the checksum of everything else (verify_segments). Prints one JSON object.
//
//   memory_store_bench [--dir PATH] [--tokens N] [--tokens-per-segment T] [--threads N]
//                      [--reuse] [--keep]
//
// The page cache is warm (the memory was just written): a cold load adds the disk's time
// to read one page per segment.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "model/memory/store/memory_store.h"

namespace store = mnemo::model::memory::store;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  fs::path dir = fs::temp_directory_path() / "mnemo_memory_store_bench";
  std::int64_t tokens = 5'000'000;
  std::int64_t per_segment = 250;
  std::size_t threads = 0;
  bool reuse = false;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--dir")
      dir = next();
    else if (arg == "--tokens")
      tokens = std::stoll(next());
    else if (arg == "--tokens-per-segment")
      per_segment = std::stoll(next());
    else if (arg == "--threads")
      threads = std::stoul(next());
    else if (arg == "--reuse")
      reuse = true;
    else if (arg == "--keep")
      keep = true;
    else {
      std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  constexpr std::int64_t kLayers = 2, kHeads = 2, kDims = 64, kBlock = 64;
  const store::StringMap fields = {{"bench", "memory_store_bench"},
                                   {"tokens", std::to_string(tokens)},
                                   {"tokens_per_segment", std::to_string(per_segment)}};
  const auto now = [] { return std::chrono::steady_clock::now(); };
  const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  const std::int64_t n_segments = (tokens + per_segment - 1) / per_segment;

  double build_ms = 0;
  auto opened = store::MemoryStore::open(dir, fields);
  if (!reuse || !opened) {
    if (opened) opened.value().reset();
    const auto start = now();
    auto created = store::MemoryStore::create(dir, fields, store::StoreOptions{false});
    if (!created) {
      std::fprintf(stderr, "%s\n", created.error().message.c_str());
      return 1;
    }
    at::manual_seed(0);
    const at::Tensor keys = at::randn({kLayers, kHeads, per_segment, kDims}).to(at::kHalf);
    const at::Tensor values = at::randn({kLayers, kHeads, per_segment, kDims}).to(at::kHalf);
    const std::int64_t n_blocks = (per_segment + kBlock - 1) / kBlock;
    const at::Tensor reps = at::randn({kLayers, kHeads, n_blocks, kDims}).to(at::kHalf);
    const at::Tensor counts = at::full({n_blocks}, kBlock, at::kInt);
    for (std::int64_t s = 0; s < n_segments; ++s) {
      const std::string key =
          "src/dir_" + std::to_string(s / 100) + "/file_" + std::to_string(s) + ".cpp";
      auto ok = created.value()->put(
          key, {{"keys", keys}, {"values", values}, {"representatives", reps}, {"counts", counts}},
          {{"path", key}, {"content_hash", "0123456789abcdef"}});
      if (!ok) {
        std::fprintf(stderr, "%s\n", ok.error().message.c_str());
        return 1;
      }
    }
    build_ms = ms(now() - start);
    created.value().reset();
    opened = store::MemoryStore::open(dir, fields);
  }
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return 1;
  }
  const auto load_start = now();
  auto loaded =
      opened.value()->load(store::LoadOptions{{"representatives", "counts"}, false, threads});
  const auto load_end = now();
  if (!loaded) {
    std::fprintf(stderr, "%s\n", loaded.error().message.c_str());
    return 1;
  }
  const auto problems = store::verify_segments(loaded.value().segments);
  const auto verify_end = now();
  std::size_t bytes = 0;
  for (const auto& segment : loaded.value().segments) bytes += segment->file_bytes();

  nlohmann::json out = {{"tokens", tokens},
                        {"bytes", bytes},
                        {"segments", loaded.value().segments.size()},
                        {"problems", loaded.value().problems.size() + problems.size()},
                        {"build_ms", build_ms},
                        {"load_ms", ms(load_end - load_start)},
                        {"verify_ms", ms(verify_end - load_end)},
                        {"threads", threads},
                        {"dir", dir.string()}};
  std::printf("%s\n", out.dump().c_str());
  loaded.value().segments.clear();
  opened.value().reset();
  if (!keep) fs::remove_all(dir);
  return 0;
}
