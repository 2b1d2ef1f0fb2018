#include "model/tokenizer/bpe_trainer.h"

#include <algorithm>
#include <queue>

#include "model/tokenizer/byte_unicode.h"

namespace mnemo::model {
namespace {

using Pair = std::uint64_t;  ///< (left id << 32) | right id

Pair pair_of(std::uint32_t a, std::uint32_t b) {
  return (static_cast<Pair>(a) << 32) | b;
}
std::uint32_t left_of(Pair p) {
  return static_cast<std::uint32_t>(p >> 32);
}
std::uint32_t right_of(Pair p) {
  return static_cast<std::uint32_t>(p & 0xffffffffu);
}

struct Candidate {
  std::int64_t count;
  Pair pair;
  /// The most frequent first; among equals, the smaller pair (HF's tie rule).
  bool operator<(const Candidate& o) const {
    return count != o.count ? count < o.count : pair > o.pair;
  }
};

struct Word {
  std::vector<std::uint32_t> symbols;
  std::int64_t count = 0;
};

/// The merge state: words as symbol ids, each adjacent pair's weighted count, the words a
/// pair may occur in, and a max-heap of pairs whose entries may be stale (a popped entry
/// whose count is no longer the pair's is pushed back with the right one).
class Merger {
 public:
  explicit Merger(std::vector<Word> words) : words_(std::move(words)) {
    for (std::uint32_t w = 0; w < words_.size(); ++w) {
      const Word& word = words_[w];
      for (std::size_t i = 0; i + 1 < word.symbols.size(); ++i) {
        const Pair p = pair_of(word.symbols[i], word.symbols[i + 1]);
        counts_[p] += word.count;
        where_[p].push_back(w);
      }
    }
    for (const auto& [p, count] : counts_) heap_.push({count, p});
  }

  /// The next pair to merge with its count, or false when none is left.
  bool next(Pair& pair, std::int64_t& count) {
    while (!heap_.empty()) {
      const Candidate top = heap_.top();
      heap_.pop();
      const std::int64_t current = counts_[top.pair];
      if (current <= 0) continue;
      if (current != top.count) {
        heap_.push({current, top.pair});
        continue;
      }
      pair = top.pair;
      count = current;
      return true;
    }
    return false;
  }

  /// Replaces every occurrence of `pair` (left to right, not overlapping) by `symbol`.
  void merge(Pair pair, std::uint32_t symbol) {
    const std::uint32_t a = left_of(pair), b = right_of(pair);
    std::vector<std::uint32_t> in = std::move(where_[pair]);
    where_.erase(pair);
    std::sort(in.begin(), in.end());
    in.erase(std::unique(in.begin(), in.end()), in.end());
    std::vector<Pair> grown;
    const auto add = [&](Pair p, std::int64_t delta, std::uint32_t w) {
      counts_[p] += delta;
      if (delta > 0) {
        where_[p].push_back(w);
        grown.push_back(p);
      }
    };
    for (const std::uint32_t w : in) {
      std::vector<std::uint32_t>& s = words_[w].symbols;
      const std::int64_t c = words_[w].count;
      for (std::size_t i = 0; i + 1 < s.size(); ++i) {
        if (s[i] != a || s[i + 1] != b) continue;
        if (i > 0) {
          add(pair_of(s[i - 1], a), -c, w);
          add(pair_of(s[i - 1], symbol), c, w);
        }
        if (i + 2 < s.size()) {
          add(pair_of(b, s[i + 2]), -c, w);
          add(pair_of(symbol, s[i + 2]), c, w);
        }
        s[i] = symbol;
        s.erase(s.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      }
    }
    counts_[pair] = 0;
    std::sort(grown.begin(), grown.end());
    grown.erase(std::unique(grown.begin(), grown.end()), grown.end());
    for (const Pair p : grown) heap_.push({counts_[p], p});
  }

 private:
  std::vector<Word> words_;
  std::unordered_map<Pair, std::int64_t> counts_;
  std::unordered_map<Pair, std::vector<std::uint32_t>> where_;
  std::priority_queue<Candidate> heap_;
};

}  // namespace

std::vector<std::string> default_special_tokens() {
  return {"<|endoftext|>",  "<|fim_prefix|>", "<|fim_middle|>",
          "<|fim_suffix|>", "<|fim_pad|>",    "<|file_sep|>"};
}

std::vector<std::string> code_pre_regexes() {
  return {"\\p{N}", kGpt2Regex};
}

Result<BpeTrainer, std::string> BpeTrainer::create(BpeTrainerOptions options) {
  if (options.vocab_size < options.special_tokens.size() + 256)
    return std::string("the vocabulary must hold the special tokens and the 256 bytes");
  auto pre = PreTokenizer::create(options.pre_regexes);
  if (!pre) return pre.error();
  return BpeTrainer(std::move(options), std::move(pre).value());
}

void BpeTrainer::add_text(std::string_view text) {
  pre_.split(text, scratch_);
  for (const TextPiece& piece : scratch_)
    ++counts_[std::string(text.substr(piece.begin, piece.length))];
}

TrainedBpe BpeTrainer::train() const {
  TrainedBpe out;
  out.vocab = options_.special_tokens;
  out.n_special = out.vocab.size();
  // The bytes, ordered by the code point that writes each (HF sorts its alphabet so).
  std::vector<std::uint8_t> bytes(256);
  for (int b = 0; b < 256; ++b) bytes[b] = static_cast<std::uint8_t>(b);
  std::sort(bytes.begin(), bytes.end(), [](std::uint8_t x, std::uint8_t y) {
    return byte_to_codepoint(x) < byte_to_codepoint(y);
  });
  std::vector<std::uint32_t> id_of_byte(256);
  for (const std::uint8_t b : bytes) {
    id_of_byte[b] = static_cast<std::uint32_t>(out.vocab.size());
    out.vocab.push_back(byte_to_utf8(b));
  }
  // Words in a fixed order, so the result does not depend on the hash map's.
  std::vector<std::pair<std::string_view, std::uint64_t>> pieces(counts_.begin(), counts_.end());
  std::sort(pieces.begin(), pieces.end());
  std::vector<Word> words;
  words.reserve(pieces.size());
  for (const auto& [piece, count] : pieces) {
    Word w;
    w.count = static_cast<std::int64_t>(count);
    for (const char c : piece) w.symbols.push_back(id_of_byte[static_cast<std::uint8_t>(c)]);
    words.push_back(std::move(w));
  }
  Merger merger(std::move(words));
  std::unordered_map<std::string, std::uint32_t> id_of_text;
  for (std::uint32_t i = 0; i < out.vocab.size(); ++i) id_of_text.emplace(out.vocab[i], i);
  Pair pair = 0;
  std::int64_t count = 0;
  while (out.vocab.size() < options_.vocab_size && merger.next(pair, count)) {
    if (static_cast<std::uint64_t>(count) < options_.min_frequency) break;
    const std::string& left = out.vocab[left_of(pair)];
    const std::string& right = out.vocab[right_of(pair)];
    std::string text = left + right;
    auto [it, added] = id_of_text.emplace(text, static_cast<std::uint32_t>(out.vocab.size()));
    out.merges.emplace_back(left, right);
    if (added) out.vocab.push_back(std::move(text));
    merger.merge(pair, it->second);
  }
  return out;
}

nlohmann::json tokenizer_json(const TrainedBpe& bpe, const BpeTrainerOptions& options) {
  using nlohmann::json;
  json added = json::array();
  for (std::size_t i = 0; i < bpe.n_special; ++i) {
    added.push_back({{"id", i},
                     {"content", bpe.vocab[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  json steps = json::array();
  bool gpt2_last = !options.pre_regexes.empty() && options.pre_regexes.back() == kGpt2Regex;
  for (std::size_t i = 0; i + (gpt2_last ? 1 : 0) < options.pre_regexes.size(); ++i) {
    steps.push_back({{"type", "Split"},
                     {"pattern", {{"Regex", options.pre_regexes[i]}}},
                     {"behavior", "Isolated"},
                     {"invert", false}});
  }
  steps.push_back({{"type", "ByteLevel"},
                   {"add_prefix_space", false},
                   {"trim_offsets", true},
                   {"use_regex", gpt2_last}});
  json vocab = json::object();
  for (std::size_t i = 0; i < bpe.vocab.size(); ++i)
    vocab[bpe.vocab[i]] = i;  // specials too, as HF
  json merges = json::array();
  for (const auto& [left, right] : bpe.merges) merges.push_back({left, right});
  const json byte_level = {{"type", "ByteLevel"},
                           {"add_prefix_space", false},
                           {"trim_offsets", true},
                           {"use_regex", true}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", steps}}},
          {"post_processor", byte_level},
          {"decoder", byte_level},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", false},
            {"vocab", vocab},
            {"merges", merges}}}};
}

nlohmann::json tokenizer_config_json(const TrainedBpe& bpe) {
  // SPM: mnemo's own models are small, and learn a middle that continues the prefix far
  // sooner than one that must find where the prefix broke off (FimLayout).
  nlohmann::json config = {
      {"add_bos_token", false}, {"model_max_length", 1u << 30}, {"fim_layout", "spm"}};
  if (bpe.n_special > 0) config["eos_token"] = bpe.vocab.front();
  return config;
}

}  // namespace mnemo::model
