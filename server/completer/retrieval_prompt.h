// The prompt of a retrieval-augmented completion, laid out as RepoCoder's: code from other
// files first, each line commented out under a line naming its file, the most relevant
// nearest the cursor; then the document's own lines before the cursor. The two share the
// prefix's token budget, the retrieved code at most half of it (the evaluation's BM25 and oracle
// baselines, which must see the same number of tokens as the memory's prompt).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer/tokenizer.h"
#include "server/text/code_window.h"

namespace mnemo::server {

/// `windows` best first. A window that does not fit whole keeps its first lines that do;
/// later ones are left out. `prefix` is the document before the cursor; the result ends
/// where it does (the cursor is its end), within about `prefix_tokens` tokens in all.
std::string retrieval_prompt(const model::Tokenizer& tokenizer,
                             const std::vector<CodeWindow>& windows, std::string_view prefix,
                             std::size_t prefix_tokens);

}  // namespace mnemo::server
