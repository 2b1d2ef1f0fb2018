// Byte-level BPE tokenizer (GPT-2 family: GPT-2, Llama 3, Qwen2, StarCoder, DeepSeek-Coder,
// SmolLM), loaded from GGUF metadata (tokenizer.ggml.*) or a Hugging Face tokenizer.json.
// Encoding matches llama.cpp's llama_tokenize and HF tokenizers; decode() returns the exact
// bytes, so encode/decode round-trips any byte string the vocabulary can represent, invalid
// UTF-8 included (a few vocabularies lack some bytes that never occur in UTF-8: see
// bpe_tokenizer.h).
// Immutable after loading; safe to use from several threads.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/result.h"
#include "model/token.h"

namespace mnemo::model {

class GgufFile;

struct TokenizerError {
  std::string message;  ///< names the file and what is wrong
};

/// llama.cpp's token types (tokenizer.ggml.token_type).
enum class TokenType : std::int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

/// How a fill-in-the-middle prompt is laid out. PSM puts the middle after the suffix, so a
/// model must find where the prefix broke off; SPM puts the suffix first and the prefix just
/// before the middle, so the middle is a plain continuation of the prefix, which a small
/// model learns far sooner (Bavarian et al. 2022, "Efficient Training of Language Models to
/// Fill in the Middle", section 3). PSM is what published code models are trained with.
enum class FimLayout {
  kPrefixSuffixMiddle,  ///< <fim_prefix> prefix <fim_suffix> suffix <fim_middle> middle
  kSuffixPrefixMiddle,  ///< <fim_prefix> <fim_suffix> suffix <fim_middle> prefix middle
};

/// Appends a fill-in-the-middle sequence up to where the middle goes, in `layout`'s order:
/// the markers (fim_prefix, fim_suffix, fim_middle) around [prefix_begin, prefix_end) and
/// [suffix_begin, suffix_end). The one place that knows the layouts: prompts and training
/// windows both lay out through it.
template <class It>
void append_fim(Tokens& out, FimLayout layout, TokenId fim_prefix, TokenId fim_suffix,
                TokenId fim_middle, It prefix_begin, It prefix_end, It suffix_begin,
                It suffix_end) {
  const bool suffix_first = layout == FimLayout::kSuffixPrefixMiddle;
  out.push_back(fim_prefix);
  if (!suffix_first) out.insert(out.end(), prefix_begin, prefix_end);
  out.push_back(fim_suffix);
  out.insert(out.end(), suffix_begin, suffix_end);
  out.push_back(fim_middle);
  if (suffix_first) out.insert(out.end(), prefix_begin, prefix_end);
}

/// The special ids a model declares; absent ones are nullopt.
struct SpecialTokens {
  std::optional<TokenId> bos;
  std::optional<TokenId> eos;
  std::optional<TokenId> eot;  ///< end of turn, where the model has one
  std::optional<TokenId> fim_prefix;
  std::optional<TokenId> fim_suffix;
  std::optional<TokenId> fim_middle;
  bool add_bos = false;  ///< prepend bos when encoding a prompt with add_special
  /// tokenizer_config.json's "fim_layout" ("psm" or "spm", mnemo's own key); PSM elsewhere.
  FimLayout fim_layout = FimLayout::kPrefixSuffixMiddle;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  static Result<std::shared_ptr<const Tokenizer>, TokenizerError> from_gguf(const GgufFile& gguf);
  /// `path` is a tokenizer.json; tokenizer_config.json beside it, if present, supplies
  /// add_bos and the special-token names.
  static Result<std::shared_ptr<const Tokenizer>, TokenizerError> from_tokenizer_json(
      const std::string& path);

  /// `add_special`: prepend BOS when the model asks for it. `parse_special`: control and
  /// other special tokens written in the text become those tokens (otherwise they are
  /// plain text). User-defined added tokens are always matched, as in llama.cpp.
  virtual Tokens encode(std::string_view text, bool add_special, bool parse_special) const = 0;

  /// The bytes of `tokens` concatenated. Control tokens give their text only when
  /// `render_special` is set (llama.cpp's token_to_piece with special=true).
  virtual std::string decode(const Tokens& tokens, bool render_special = false) const = 0;
  /// The raw bytes of one token (its text for control tokens).
  virtual std::string token_bytes(TokenId id) const = 0;

  virtual std::size_t n_vocab() const = 0;
  virtual TokenType type(TokenId id) const = 0;
  /// End of generation: eos, eot and the other tokens llama.cpp counts as EOG.
  virtual bool is_end_of_generation(TokenId id) const = 0;
  virtual const SpecialTokens& special() const = 0;
  /// The id of the token whose text is exactly `text` (e.g. "<|fim_prefix|>"), if any.
  virtual std::optional<TokenId> find(std::string_view text) const = 0;
};

}  // namespace mnemo::model
