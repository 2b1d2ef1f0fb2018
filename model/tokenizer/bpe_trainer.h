// Learns a byte-level BPE vocabulary from a corpus (`mnemo train-tokenizer`), by the
// algorithm of Hugging Face tokenizers' BpeTrainer: the text is split into pieces by the
// pre-tokenizer's regexes and counted; every piece starts as its bytes; then, until the
// vocabulary is full, the most frequent adjacent pair of symbols (ties: the pair of smaller
// ids) is merged everywhere into a new symbol. Special tokens come first (ids 0..), then the
// 256 bytes in the order of their characters in GPT-2's byte alphabet, then the merges.
//
// The result is written as a Hugging Face tokenizer.json (and tokenizer_config.json) that
// Tokenizer::from_tokenizer_json and HF tokenizers both load; its pre-tokenizer is
// StarCoder's (each digit alone, then GPT-2's rules), which suits code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/result.h"
#include "model/tokenizer/pretokenizer.h"

namespace mnemo::model {

/// End of text (a file's end; the end of generation), fill-in-the-middle's three markers
/// and its pad, and a separator between files.
std::vector<std::string> default_special_tokens();
/// StarCoder's pre-tokenizer: every digit alone, then GPT-2's rules.
std::vector<std::string> code_pre_regexes();

struct BpeTrainerOptions {
  std::size_t vocab_size = 16384;  ///< all of it: special tokens, 256 bytes, merges
  std::vector<std::string> special_tokens = default_special_tokens();
  std::vector<std::string> pre_regexes = code_pre_regexes();
  std::uint64_t min_frequency = 2;  ///< a pair seen fewer times is never merged
};

struct TrainedBpe {
  std::vector<std::string> vocab;  ///< by id, in the byte-level alphabet (specials as is)
  std::vector<std::pair<std::string, std::string>> merges;  ///< in order, as vocab texts
  std::size_t n_special = 0;
};

class BpeTrainer {
 public:
  static Result<BpeTrainer, std::string> create(BpeTrainerOptions options);

  /// Counts the pieces of one document (a file: pieces never span two).
  void add_text(std::string_view text);
  std::size_t distinct_pieces() const { return counts_.size(); }

  /// The vocabulary for the texts added so far. Deterministic: the same texts, in any order,
  /// give the same result.
  TrainedBpe train() const;

  const BpeTrainerOptions& options() const { return options_; }

 private:
  BpeTrainer(BpeTrainerOptions options, PreTokenizer pre)
      : options_(std::move(options)), pre_(std::move(pre)) {}

  BpeTrainerOptions options_;
  PreTokenizer pre_;
  std::vector<TextPiece> scratch_;
  std::unordered_map<std::string, std::uint64_t> counts_;  ///< piece bytes -> occurrences
};

/// The Hugging Face tokenizer.json of a trained vocabulary (pre-tokenizer: `pre_regexes`
/// as Split/Isolated steps, the last being GPT-2's rules as ByteLevel's own).
nlohmann::json tokenizer_json(const TrainedBpe& bpe, const BpeTrainerOptions& options);
/// tokenizer_config.json: no BOS added; the first special token is EOS.
nlohmann::json tokenizer_config_json(const TrainedBpe& bpe);

}  // namespace mnemo::model
