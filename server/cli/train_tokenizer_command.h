// `mnemo train-tokenizer CORPUS --out DIR`: learns the built-in model's byte-level
// BPE vocabulary (model/tokenizer/bpe_trainer.h) from the text files under CORPUS (as the
// indexer walks a repository: ignore rules, no binaries, no huge files), a deterministic
// sample of them up to --max-bytes, and writes DIR/tokenizer.json and
// DIR/tokenizer_config.json.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace mnemo::server {

struct TrainTokenizerOptions {
  std::string corpus;
  std::string out;
  std::size_t vocab_size = 16384;
  std::uint64_t max_bytes = 64ull << 20;
  std::uint64_t seed = 1;
  std::uint64_t min_frequency = 2;
};

CLI::App* add_train_tokenizer_command(CLI::App& app, TrainTokenizerOptions& options);

/// 0 on success; 1 when the corpus cannot be read or the output written.
int run_train_tokenizer(const TrainTokenizerOptions& options);

}  // namespace mnemo::server
