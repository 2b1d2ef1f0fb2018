#include "model/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <initializer_list>
#include <limits>

#include "model/tokenizer/byte_unicode.h"

namespace mnemo::model {
namespace {

// Token texts llama.cpp (llama_vocab::impl::load) recognises when the GGUF names no id.
// A token found this way is made a control token, as llama.cpp does.
constexpr std::initializer_list<const char*> kEotTexts = {
    "<|eot_id|>", "<|im_end|>", "<|end|>",         "<end_of_turn>",         "<|endoftext|>",
    "<EOT>",      "_<EOT>",     "<|end_of_text|>", "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
constexpr std::initializer_list<const char*> kEomTexts = {"<|eom_id|>"};
constexpr std::initializer_list<const char*> kFimPrefixTexts = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",    "<｜fim▁begin｜>",
    "<PRE>",          "▁<PRE>",       "<|code_prefix|>", "<|prefix|>"};
constexpr std::initializer_list<const char*> kFimSuffixTexts = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",    "<｜fim▁hole｜>",
    "<SUF>",          "▁<SUF>",       "<|code_suffix|>", "<|suffix|>"};
constexpr std::initializer_list<const char*> kFimMiddleTexts = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>",    "<｜fim▁end｜>",
    "<MID>",          "▁<MID>",       "<|code_middle|>", "<|middle|>"};
constexpr std::initializer_list<const char*> kFimPadTexts = {"<|fim_pad|>", "<fim-pad>",
                                                             "<fim_pad>", "<PAD>"};
constexpr std::initializer_list<const char*> kFimRepTexts = {"<|fim_repo|>", "<|repo_name|>",
                                                             "<fim-repo>", "<REPO>", "<reponame>"};
constexpr std::initializer_list<const char*> kFimSepTexts = {"<|file_sep|>"};
/// Tokens that end generation wherever they occur (llama.cpp's special_eog_ids by text).
constexpr std::initializer_list<const char*> kEogTexts = {
    "<|eot_id|>",         "<|im_end|>",           "<|end|>",    "<end_of_turn>",
    "<|endoftext|>",      "<|eom_id|>",           "<EOT>",      "_<EOT>",
    "<|end_of_text|>",    "<end_of_utterance>",   "<|return|>", "<|call|>",
    "<|file_separator|>", "<｜end▁of▁sentence｜>"};

bool is_added(TokenType type) {
  return type == TokenType::kControl || type == TokenType::kUserDefined ||
         type == TokenType::kUnknown;
}

bool is_hidden(TokenType type) {
  return type == TokenType::kControl || type == TokenType::kUnknown;
}

/// C isspace in the "C" locale, which llama.cpp's lstrip/rstrip use.
bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

std::uint64_t pair_key(TokenId left, TokenId right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
         static_cast<std::uint32_t>(right);
}

constexpr TokenId kMergedAway = -2;

/// A piece of the input between added tokens (token < 0) or one added token.
struct Fragment {
  std::size_t begin = 0;
  std::size_t length = 0;
  TokenId token = -1;
};

}  // namespace

/// Per-call buffers, reused across the pieces of one encode() call.
struct BpeTokenizer::Scratch {
  struct Symbol {
    TokenId id;
    std::int32_t prev;
    std::int32_t next;
  };
  struct Candidate {
    std::int32_t rank;
    std::int32_t left;
    TokenId left_id;
    TokenId right_id;
    TokenId result;
    /// Heap order: the lowest rank first, then the leftmost (as llama.cpp and HF).
    bool operator<(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : left > other.left;
    }
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::vector<TextPiece> pieces;
  std::string prefixed;
};

Result<std::shared_ptr<const BpeTokenizer>, TokenizerError> BpeTokenizer::create(
    BpeVocabulary vocabulary, const std::string& source) {
  const auto fail = [&](const std::string& what) { return TokenizerError{source + ": " + what}; };
  const std::size_t n = vocabulary.texts.size();
  if (n == 0) return fail("the vocabulary is empty");
  if (n > static_cast<std::size_t>(std::numeric_limits<TokenId>::max())) {
    return fail("the vocabulary has too many tokens (" + std::to_string(n) + ")");
  }
  if (vocabulary.types.size() != n) {
    return fail("token types (" + std::to_string(vocabulary.types.size()) +
                ") do not match the tokens (" + std::to_string(n) + ")");
  }
  vocabulary.lstrip.resize(n, 0);
  vocabulary.rstrip.resize(n, 0);

  std::shared_ptr<BpeTokenizer> tok(new BpeTokenizer());
  tok->texts_ = std::move(vocabulary.texts);
  tok->types_ = std::move(vocabulary.types);
  tok->lstrip_ = std::move(vocabulary.lstrip);
  tok->rstrip_ = std::move(vocabulary.rstrip);
  tok->ids_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& text = tok->texts_[i];
    if (text.empty()) continue;  // a hole in the id range: never produced, decodes to nothing
    const auto [it, inserted] = tok->ids_.emplace(text, static_cast<TokenId>(i));
    if (!inserted) {
      return fail("token text '" + text + "' appears twice (ids " + std::to_string(it->second) +
                  " and " + std::to_string(i) + ")");
    }
  }

  tok->merges_.reserve(vocabulary.merges.size());
  for (std::size_t rank = 0; rank < vocabulary.merges.size(); ++rank) {
    const auto& [left, right] = vocabulary.merges[rank];
    const auto describe = [&] {
      return "merge " + std::to_string(rank) + " ('" + left + " " + right + "')";
    };
    const std::optional<TokenId> left_id = tok->find(left);
    const std::optional<TokenId> right_id = tok->find(right);
    if (!left_id) return fail(describe() + " names the unknown token '" + left + "'");
    if (!right_id) return fail(describe() + " names the unknown token '" + right + "'");
    const std::optional<TokenId> result = tok->find(left + right);
    if (!result) return fail(describe() + " makes '" + left + right + "', which is no token");
    // The first (lowest-ranked) copy of a pair wins, as in llama.cpp's bpe_ranks.emplace.
    tok->merges_.emplace(pair_key(*left_id, *right_id),
                         Merge{static_cast<std::int32_t>(rank), *result});
  }

  for (int b = 0; b < 256; ++b) {
    const auto byte = static_cast<std::uint8_t>(b);
    tok->byte_tokens_[byte] = tok->find(byte_to_utf8(byte)).value_or(-1);
  }

  // Special tokens: declared ids (out-of-range ones are ignored, as llama.cpp warns and
  // ignores them), then llama.cpp's fallbacks by text.
  const auto checked = [&](std::optional<TokenId> id) -> std::optional<TokenId> {
    return id && tok->valid(*id) ? id : std::nullopt;
  };
  SpecialTokens special = vocabulary.special;
  special.bos = checked(special.bos);
  special.eos = checked(special.eos);
  special.eot = checked(special.eot);
  special.fim_prefix = checked(special.fim_prefix);
  special.fim_suffix = checked(special.fim_suffix);
  special.fim_middle = checked(special.fim_middle);
  std::optional<TokenId> eom = checked(vocabulary.eom);
  std::optional<TokenId> fim_pad = checked(vocabulary.fim_pad);
  std::optional<TokenId> fim_rep = checked(vocabulary.fim_rep);
  std::optional<TokenId> fim_sep = checked(vocabulary.fim_sep);
  const auto make_control = [&](TokenId id) {
    tok->types_[static_cast<std::size_t>(id)] = TokenType::kControl;
  };
  const auto by_text = [&](std::optional<TokenId>& id, std::initializer_list<const char*> texts) {
    if (id) return;
    for (const char* text : texts) {
      if ((id = tok->find(text))) {
        make_control(*id);
        return;
      }
    }
  };
  by_text(special.eot, kEotTexts);
  by_text(eom, kEomTexts);
  by_text(special.fim_prefix, kFimPrefixTexts);
  by_text(special.fim_suffix, kFimSuffixTexts);
  by_text(special.fim_middle, kFimMiddleTexts);
  by_text(fim_pad, kFimPadTexts);
  by_text(fim_rep, kFimRepTexts);
  by_text(fim_sep, kFimSepTexts);
  if (special.add_bos && !special.bos) {
    return fail("add_bos_token is set but the vocabulary has no bos token");
  }
  tok->special_ = special;

  tok->eog_.assign(n, 0);
  for (const char* text : kEogTexts) {
    if (const std::optional<TokenId> id = tok->find(text)) {
      make_control(*id);
      tok->eog_[static_cast<std::size_t>(*id)] = 1;
    }
  }
  for (const std::optional<TokenId>& id :
       {special.eos, special.eot, eom, fim_pad, fim_rep, fim_sep}) {
    if (id) tok->eog_[static_cast<std::size_t>(*id)] = 1;
  }

  tok->bytes_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const TokenType type = tok->types_[i];
    const std::string& text = tok->texts_[i];
    tok->bytes_[i] = is_added(type) ? text : vocab_text_to_bytes(text);
    if (is_added(type) && !text.empty()) {
      tok->added_by_length_.push_back(static_cast<TokenId>(i));
      tok->added_trie_.insert(text, static_cast<TokenId>(i));
    }
  }
  std::stable_sort(tok->added_by_length_.begin(), tok->added_by_length_.end(),
                   [&](TokenId a, TokenId b) {
                     return tok->texts_[static_cast<std::size_t>(a)].size() >
                            tok->texts_[static_cast<std::size_t>(b)].size();
                   });

  auto pre = PreTokenizer::create(vocabulary.pre_regexes);
  if (!pre) return fail("pre-tokenizer: " + pre.error());
  tok->pre_tokenizer_ = std::move(pre).value();
  tok->ignore_merges_ = vocabulary.ignore_merges;
  tok->add_prefix_space_ = vocabulary.add_prefix_space;
  return std::shared_ptr<const BpeTokenizer>(std::move(tok));
}

Tokens BpeTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  Tokens out;
  out.reserve(text.size() / 3 + 2);
  if (add_special && special_.add_bos && special_.bos) out.push_back(*special_.bos);

  // Cut out the added tokens as llama.cpp's tokenizer_st_partition does: token by token,
  // longest text first, each split at its every occurrence in the remaining text. Only
  // tokens that occur at all (one trie pass) take part.
  std::vector<Fragment> fragments;
  if (!text.empty()) fragments.push_back({0, text.size(), -1});
  std::vector<TokenId> present;
  if (!added_trie_.empty() && !text.empty()) {
    added_trie_.find_all(text, [&](TokenId id) { present.push_back(id); });
    std::sort(present.begin(), present.end());
    present.erase(std::unique(present.begin(), present.end()), present.end());
  }
  if (!present.empty()) {
    std::vector<Fragment> next;
    for (const TokenId id : added_by_length_) {
      if (!std::binary_search(present.begin(), present.end(), id)) continue;
      const auto index = static_cast<std::size_t>(id);
      if (!parse_special && is_hidden(types_[index])) continue;
      const std::string& needle = texts_[index];
      next.clear();
      for (const Fragment& fragment : fragments) {
        if (fragment.token >= 0) {
          next.push_back(fragment);
          continue;
        }
        std::size_t begin = fragment.begin;
        std::size_t length = fragment.length;
        while (length > 0) {
          const std::size_t found = text.substr(begin, length).find(needle);
          if (found == std::string_view::npos) {
            next.push_back({begin, length, -1});
            break;
          }
          std::size_t left = found;
          if (lstrip_[index]) {
            while (left > 0 && is_ascii_space(text[begin + left - 1])) --left;
          }
          if (left > 0) next.push_back({begin, left, -1});
          next.push_back({begin + found, needle.size(), id});
          std::size_t right = begin + found + needle.size();
          const std::size_t end = begin + length;
          if (rstrip_[index]) {
            while (right < end && is_ascii_space(text[right])) ++right;
          }
          begin = right;
          length = end - right;
        }
      }
      fragments.swap(next);
    }
  }

  Scratch scratch;
  for (const Fragment& fragment : fragments) {
    if (fragment.token >= 0) {
      out.push_back(fragment.token);
    } else {
      encode_text(text.substr(fragment.begin, fragment.length), scratch, out);
    }
  }
  return out;
}

void BpeTokenizer::encode_text(std::string_view text, Scratch& scratch, Tokens& out) const {
  if (add_prefix_space_ && !text.empty() && text.front() != ' ') {
    scratch.prefixed.assign(1, ' ');
    scratch.prefixed.append(text);
    text = scratch.prefixed;
  }
  pre_tokenizer_.split(text, scratch.pieces);
  for (const TextPiece& piece : scratch.pieces) {
    encode_piece(text.substr(piece.begin, piece.length), scratch, out);
  }
}

void BpeTokenizer::encode_piece(std::string_view piece, Scratch& scratch, Tokens& out) const {
  const auto byte_token = [&](char c) { return byte_tokens_[static_cast<std::uint8_t>(c)]; };
  if (piece.size() == 1) {
    if (const TokenId id = byte_token(piece[0]); id >= 0) out.push_back(id);
    return;
  }
  if (ignore_merges_) {
    if (const auto it = ids_.find(bytes_to_vocab_text(piece)); it != ids_.end()) {
      out.push_back(it->second);
      return;
    }
  }

  auto& symbols = scratch.symbols;
  auto& heap = scratch.heap;
  symbols.clear();
  heap.clear();
  const auto count = static_cast<std::int32_t>(piece.size());
  for (std::int32_t i = 0; i < count; ++i) {
    symbols.push_back(
        {byte_token(piece[static_cast<std::size_t>(i)]), i - 1, i + 1 < count ? i + 1 : -1});
  }
  const auto add_candidate = [&](std::int32_t left, std::int32_t right) {
    if (left < 0 || right < 0) return;
    const TokenId left_id = symbols[static_cast<std::size_t>(left)].id;
    const TokenId right_id = symbols[static_cast<std::size_t>(right)].id;
    if (left_id < 0 || right_id < 0) return;
    const auto it = merges_.find(pair_key(left_id, right_id));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, left, left_id, right_id, it->second.result});
    std::push_heap(heap.begin(), heap.end());
  };
  for (std::int32_t i = 1; i < count; ++i) add_candidate(i - 1, i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    const Scratch::Candidate best = heap.back();
    heap.pop_back();
    auto& left = symbols[static_cast<std::size_t>(best.left)];
    if (left.id != best.left_id || left.next < 0) continue;  // outdated
    auto& right = symbols[static_cast<std::size_t>(left.next)];
    if (right.id != best.right_id) continue;
    left.id = best.result;
    right.id = kMergedAway;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = best.left;
    add_candidate(left.prev, best.left);
    add_candidate(best.left, left.next);
  }

  for (std::int32_t i = 0; i >= 0; i = symbols[static_cast<std::size_t>(i)].next) {
    // A byte the vocabulary has no token for is dropped (never happens with a complete
    // byte-level alphabet).
    if (symbols[static_cast<std::size_t>(i)].id >= 0) {
      out.push_back(symbols[static_cast<std::size_t>(i)].id);
    }
  }
}

std::string BpeTokenizer::decode(const Tokens& tokens, bool render_special) const {
  std::string out;
  for (const TokenId id : tokens) {
    if (!valid(id)) continue;
    const auto index = static_cast<std::size_t>(id);
    if (!render_special && is_hidden(types_[index])) continue;
    out += bytes_[index];
  }
  return out;
}

std::string BpeTokenizer::token_bytes(TokenId id) const {
  return valid(id) ? bytes_[static_cast<std::size_t>(id)] : std::string();
}

TokenType BpeTokenizer::type(TokenId id) const {
  return valid(id) ? types_[static_cast<std::size_t>(id)] : TokenType::kUndefined;
}

bool BpeTokenizer::is_end_of_generation(TokenId id) const {
  return valid(id) && eog_[static_cast<std::size_t>(id)] != 0;
}

std::optional<TokenId> BpeTokenizer::find(std::string_view text) const {
  const auto it = ids_.find(std::string(text));
  return it != ids_.end() ? std::optional<TokenId>(it->second) : std::nullopt;
}

std::optional<TokenId> BpeTokenizer::byte_token(std::uint8_t byte) const {
  return byte_tokens_[byte] >= 0 ? std::optional<TokenId>(byte_tokens_[byte]) : std::nullopt;
}

}  // namespace mnemo::model
