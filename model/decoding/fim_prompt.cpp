// Fill-in-the-middle prompt layout (see fim_prompt.h).
#include "model/decoding/fim_prompt.h"

#include <string>

namespace mnemo::model {

Result<Tokens, ModelError> fim_prompt(const Tokenizer& tokenizer, std::string_view prefix,
                                      std::string_view suffix) {
  const SpecialTokens& special = tokenizer.special();
  std::string missing;
  for (const auto& [name, id] :
       {std::pair{"fim_prefix", special.fim_prefix}, std::pair{"fim_suffix", special.fim_suffix},
        std::pair{"fim_middle", special.fim_middle}}) {
    if (id) continue;
    missing += missing.empty() ? "" : ", ";
    missing += name;
  }
  if (!missing.empty()) {
    return ModelError{"fim_prompt: the model has no fill-in-the-middle token (missing " + missing +
                      ")"};
  }

  const Tokens prefix_tokens = tokenizer.encode(prefix, false, false);
  const Tokens suffix_tokens = tokenizer.encode(suffix, false, false);
  Tokens prompt;
  prompt.reserve(prefix_tokens.size() + suffix_tokens.size() + 4);
  if (special.add_bos && special.bos) prompt.push_back(*special.bos);
  const bool suffix_first = special.fim_layout == FimLayout::kSuffixPrefixMiddle;
  prompt.push_back(*special.fim_prefix);
  if (!suffix_first) prompt.insert(prompt.end(), prefix_tokens.begin(), prefix_tokens.end());
  prompt.push_back(*special.fim_suffix);
  prompt.insert(prompt.end(), suffix_tokens.begin(), suffix_tokens.end());
  prompt.push_back(*special.fim_middle);
  if (suffix_first) prompt.insert(prompt.end(), prefix_tokens.begin(), prefix_tokens.end());
  return prompt;
}

}  // namespace mnemo::model
