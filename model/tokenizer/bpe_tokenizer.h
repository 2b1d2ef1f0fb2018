// The byte-level BPE Tokenizer, built from a BpeVocabulary that the GGUF and tokenizer.json
// loaders fill in. Encoding follows llama.cpp's llama_tokenize for BPE vocabularies: added
// tokens are cut out first (longest text first, as tokenizer_st_partition does), the rest is
// pre-tokenized by the model's regex list and each piece is merged by rank. Merging works on
// token ids, one byte token per input byte, so any byte string round-trips wherever the
// vocabulary has a token for every byte. (StarCoder2 lacks C0, C1, F1 and F5..FF, which are
// dropped as llama.cpp and HF drop them; DeepSeek-Coder has user-defined stand-ins for C0,
// C1 and F5..FF that decode to the character, not the byte. None of them occurs in UTF-8
// except F1, the lead byte of the unassigned planes 4-7.)
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/tokenizer/pretokenizer.h"
#include "model/tokenizer/token_trie.h"
#include "model/tokenizer/tokenizer.h"

namespace mnemo::model {

/// Everything a loader reads from its file, in the file's own terms.
struct BpeVocabulary {
  /// Token texts as the vocabulary stores them: normal tokens in the byte-level alphabet
  /// ("Ġthe"), control and user-defined tokens as the raw text they match ("<|im_end|>").
  std::vector<std::string> texts;
  std::vector<TokenType> types;  ///< same length as texts
  /// Added tokens that swallow the ASCII whitespace before / after them (HF lstrip/rstrip).
  std::vector<std::uint8_t> lstrip;  ///< empty, or same length as texts
  std::vector<std::uint8_t> rstrip;  ///< empty, or same length as texts
  /// Merges by rank: the two token texts joined by the merge.
  std::vector<std::pair<std::string, std::string>> merges;
  /// Ids the file declares; missing ones are found by their text (as llama.cpp does).
  SpecialTokens special;
  std::optional<TokenId> eom, fim_pad, fim_rep, fim_sep;  ///< more end-of-generation ids
  std::vector<std::string> pre_regexes;                   ///< the pre-tokenizer's regex list
  bool ignore_merges = false;     ///< a piece that is itself a token is not merged (llama3)
  bool add_prefix_space = false;  ///< HF ByteLevel add_prefix_space: " " before each text
};

/// Immutable after create(); every method may be called from any thread.
class BpeTokenizer final : public Tokenizer {
 public:
  /// Checks the vocabulary (unique texts, merges naming known tokens, ids in range) and
  /// builds the lookup tables. `source` (the file) starts every error message.
  static Result<std::shared_ptr<const BpeTokenizer>, TokenizerError> create(
      BpeVocabulary vocabulary, const std::string& source);

  Tokens encode(std::string_view text, bool add_special, bool parse_special) const override;
  std::string decode(const Tokens& tokens, bool render_special = false) const override;
  std::string token_bytes(TokenId id) const override;
  std::size_t n_vocab() const override { return texts_.size(); }
  TokenType type(TokenId id) const override;
  bool is_end_of_generation(TokenId id) const override;
  const SpecialTokens& special() const override { return special_; }
  std::optional<TokenId> find(std::string_view text) const override;

  /// The regexes the pre-tokenizer applies, in order.
  const std::vector<std::string>& pre_regexes() const { return pre_tokenizer_.regexes(); }
  /// The token standing for one raw byte; nullopt where the vocabulary has none.
  std::optional<TokenId> byte_token(std::uint8_t byte) const;

 private:
  struct Merge {
    std::int32_t rank;
    TokenId result;
  };
  struct Scratch;

  BpeTokenizer() = default;
  bool valid(TokenId id) const { return id >= 0 && static_cast<std::size_t>(id) < texts_.size(); }
  void encode_text(std::string_view text, Scratch& scratch, Tokens& out) const;
  void encode_piece(std::string_view piece, Scratch& scratch, Tokens& out) const;

  std::vector<std::string> texts_;
  std::vector<TokenType> types_;
  std::vector<std::string> bytes_;  ///< what each token decodes to (text for control tokens)
  std::vector<std::uint8_t> lstrip_, rstrip_;
  std::unordered_map<std::string, TokenId> ids_;
  std::unordered_map<std::uint64_t, Merge> merges_;  ///< key: left id << 32 | right id
  std::array<TokenId, 256> byte_tokens_{};           ///< -1 where a byte has no token
  std::vector<TokenId> added_by_length_;  ///< control / user-defined / unknown, longest first
  TokenTrie added_trie_;                  ///< the texts of added_by_length_
  std::vector<std::uint8_t> eog_;
  SpecialTokens special_;
  PreTokenizer pre_tokenizer_;
  bool ignore_merges_ = false;
  bool add_prefix_space_ = false;
};

}  // namespace mnemo::model
