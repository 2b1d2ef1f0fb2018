#include "server/cli/train_tokenizer_command.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include <CLI/CLI.hpp>

#include "indexer/repository_walk.h"
#include "model/tokenizer/bpe_trainer.h"

namespace mnemo::server {
namespace fs = std::filesystem;

CLI::App* add_train_tokenizer_command(CLI::App& app, TrainTokenizerOptions& o) {
  auto* cmd = app.add_subcommand(
      "train-tokenizer",
      "Learn a byte-level BPE vocabulary from a corpus folder; writes tokenizer.json and "
      "tokenizer_config.json");
  cmd->add_option("corpus", o.corpus, "the folder of text files to learn from")->required();
  cmd->add_option("--out", o.out, "the folder to write the tokenizer to")->required();
  cmd->add_option("--vocab-size", o.vocab_size,
                  "tokens in all: special tokens, the 256 bytes and the merges")
      ->check(CLI::Range(262, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--max-bytes", o.max_bytes, "learn from a sample of files of about this size")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "which files are sampled")->capture_default_str();
  cmd->add_option("--min-frequency", o.min_frequency, "never merge a pair seen fewer times")
      ->capture_default_str();
  return cmd;
}

int run_train_tokenizer(const TrainTokenizerOptions& o) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto walk = indexer::walk_repository(o.corpus, {});
  if (!walk) {
    std::cerr << "mnemo train-tokenizer: " << walk.error().message << "\n";
    return 1;
  }
  std::vector<indexer::WalkedFile> files = walk.value().files;
  std::mt19937_64 random(o.seed);
  std::shuffle(files.begin(), files.end(), random);
  model::BpeTrainerOptions options;
  options.vocab_size = o.vocab_size;
  options.min_frequency = o.min_frequency;
  auto trainer = model::BpeTrainer::create(options);
  if (!trainer) {
    std::cerr << "mnemo train-tokenizer: " << trainer.error() << "\n";
    return 1;
  }
  std::uint64_t bytes = 0;
  std::size_t used = 0;
  for (const indexer::WalkedFile& file : files) {
    if (bytes >= o.max_bytes) break;
    const auto text = indexer::read_file_contents(fs::path(o.corpus) / file.path);
    if (!text) continue;
    trainer.value().add_text(*text);
    bytes += text->size();
    ++used;
  }
  if (used == 0) {
    std::cerr << "mnemo train-tokenizer: " << o.corpus << ": no text file to learn from\n";
    return 1;
  }
  std::cerr << "read " << used << " files (" << bytes / 1000000.0 << " MB), "
            << trainer.value().distinct_pieces() << " distinct pieces; merging\n";
  const model::TrainedBpe bpe = trainer.value().train();
  std::error_code error;
  fs::create_directories(o.out, error);
  for (const auto& [name, json] : {std::pair<const char*, nlohmann::json>{
                                       "tokenizer.json", model::tokenizer_json(bpe, options)},
                                   {"tokenizer_config.json", model::tokenizer_config_json(bpe)}}) {
    const fs::path path = fs::path(o.out) / name;
    std::ofstream out(path, std::ios::binary);
    out << json.dump(1) << "\n";
    out.close();
    if (!out) {
      std::cerr << "mnemo train-tokenizer: " << path.string() << ": cannot be written\n";
      return 1;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::cout << nlohmann::json{{"files", used},
                              {"bytes", bytes},
                              {"vocab_size", bpe.vocab.size()},
                              {"merges", bpe.merges.size()},
                              {"seconds", seconds},
                              {"out", fs::absolute(o.out).string()}}
                   .dump()
            << "\n";
  return 0;
}

}  // namespace mnemo::server
