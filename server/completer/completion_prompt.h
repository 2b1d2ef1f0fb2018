// The model's prompt for a completion at a cursor: the text before the cursor and after it,
// each within a token budget (the prefix keeps the lines nearest the cursor, the suffix
// likewise), laid out for fill-in-the-middle when the model has the tokens for it, else the
// prefix alone for the model to continue.
#pragma once

#include <cstddef>
#include <string_view>

#include "model/language_model.h"
#include "model/result.h"
#include "model/token.h"
#include "model/tokenizer/tokenizer.h"

namespace mnemo::server {

struct PromptBudget {
  std::size_t prefix_tokens = 1536;
  std::size_t suffix_tokens = 512;
};

struct CompletionPrompt {
  model::Tokens tokens;
  bool fill_in_middle = false;     ///< the suffix is in the prompt
  std::string_view prefix;         ///< the part of the text before the cursor it holds
  std::string_view suffix;         ///< the part after it (empty without fill_in_middle)
  std::size_t context_tokens = 0;  ///< tokens of the context before the prefix
};

/// `cursor` is a byte offset into `text` (at most its size). The prefix and suffix start and
/// end at line boundaries where the budget allows, so the model sees whole lines (a single
/// line longer than the budget is cut inside). A cut prefix starts where the previous
/// keystroke's did, so consecutive prompts share their cached start. The views point into
/// `text`. `healed`: bytes just before the cursor that the prefix leaves out, the part of a
/// word typed and the blanks before it, which the generation must write again
/// (model/decoding/token_healing.h); the suffix still starts at the cursor. `context`: text
/// placed before the prefix (declarations the suggestion may need), within the prefix's
/// budget: it takes at most half of it (more is cut at a line end) and the document's text
/// the rest.
CompletionPrompt completion_prompt(const model::Tokenizer& tokenizer, std::string_view text,
                                   std::size_t cursor, const PromptBudget& budget,
                                   std::size_t healed = 0, std::string_view context = {});

}  // namespace mnemo::server
