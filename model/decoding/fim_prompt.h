// Fill-in-the-middle prompts: the model sees the text before and after the cursor and
// generates the middle. Only the special-token ids come from the model; the user's text
// can never turn into control tokens.
#pragma once

#include <string_view>

#include "model/language_model.h"
#include "model/result.h"
#include "model/token.h"
#include "model/tokenizer/tokenizer.h"

namespace mnemo::model {

/// The prompt in the tokenizer's layout (special().fim_layout), PSM:
///   [bos] <fim_prefix> prefix <fim_suffix> suffix <fim_middle>
/// or SPM:
///   [bos] <fim_prefix> <fim_suffix> suffix <fim_middle> prefix
/// with bos only when tokenizer.special().add_bos (and the model has one). `prefix` and
/// `suffix` are encoded without special tokens and with parse_special=false, so text such
/// as "<|fim_middle|>" in a file stays plain text. An error naming each missing token when
/// the model lacks fim_prefix, fim_suffix or fim_middle.
Result<Tokens, ModelError> fim_prompt(const Tokenizer& tokenizer, std::string_view prefix,
                                      std::string_view suffix);

}  // namespace mnemo::model
