// The pre-tokenizer of byte-level BPE: a list of regexes applied one after another, each
// splitting every piece the previous ones produced into its matches and the text between
// them (both kept), exactly as llama.cpp's unicode_regex_split and HF's
// Split(behavior=Isolated) do. The regexes run on PCRE2 with Unicode properties; invalid
// UTF-8 never matches and ends up in the pieces between matches, so no byte is lost.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/result.h"

namespace mnemo::model {

/// A piece of the text handed to split(): bytes [begin, begin + length).
struct TextPiece {
  std::size_t begin = 0;
  std::size_t length = 0;
};

/// What llama.cpp does for one value of the GGUF key tokenizer.ggml.pre.
struct LlamaCppPreset {
  std::vector<std::string> regexes;
  bool ignore_merges = false;  ///< a word that is itself a token is not merged (llama3)
  bool add_bos = false;        ///< default of add_bos_token when the GGUF does not say
};

/// The regex list llama.cpp (src/llama-vocab.cpp) uses for `pre` ("" is llama.cpp's default
/// list, used when the key is missing); nullopt for names llama.cpp does not know.
std::optional<LlamaCppPreset> llama_cpp_preset(std::string_view pre);

/// The regex of GPT-2's (and HF ByteLevel's use_regex=true) pre-tokenizer.
extern const char* const kGpt2Regex;

/// Immutable after create(); split() may be called from several threads at once (the
/// compiled patterns are shared, match state is per call).
class PreTokenizer {
 public:
  /// Compiles each regex once (PCRE2, UTF + UCP + MATCH_INVALID_UTF, JIT when available).
  /// The error names the regex that does not compile and why.
  static Result<PreTokenizer, std::string> create(const std::vector<std::string>& regexes);

  /// Splits `text` into consecutive, non-empty pieces covering it exactly. Appends to
  /// `pieces` (cleared first).
  void split(std::string_view text, std::vector<TextPiece>& pieces) const;

  const std::vector<std::string>& regexes() const { return patterns_; }

 private:
  struct Compiled;
  std::vector<std::string> patterns_;
  std::vector<std::shared_ptr<const Compiled>> compiled_;
};

}  // namespace mnemo::model
