// The declarations a suggestion is likely to need, as commented lines the prompt carries
// before the document (CoCoMIC, arXiv 2212.10007; RepoFuse, arXiv 2402.14323): what the
// model cannot know from the file it reads. In order, within a token budget:
//  1. after `.`, `->` or `::`: the members that can go there, likeliest first;
//  2. the repository's declarations of the names used in the lines before the cursor
//     that are declared in other files (the functions called, the types used);
//  3. the functions and macros of the headers this file includes that it does not use
//     yet, the repository's most used first: where a first use comes from.
// Laid out as the retrieval prompt's code (retrieval_prompt.h): each file's lines under a
// comment naming it, each declaration one commented line.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "server/names/cursor_names.h"
#include "server/names/name_index.h"

namespace mnemo::server {

struct DeclarationBlockRequest {
  std::string_view text;  ///< the document
  std::size_t cursor = 0;
  std::string file;                    ///< the document, relative to the repository (as indexed)
  const CursorNames* names = nullptr;  ///< the names at the cursor (may be null)
  std::size_t budget_tokens = 256;
};

/// Counts a text's tokens (the model's tokenizer).
using TokenCounter = std::function<std::size_t(std::string_view)>;

/// The block (empty when the index has nothing to add, or the budget is 0).
std::string declaration_block(NameIndex& index, const DeclarationBlockRequest& request,
                              const TokenCounter& count_tokens);

}  // namespace mnemo::server
