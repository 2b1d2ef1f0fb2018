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
  append_fim(prompt, special.fim_layout, *special.fim_prefix, *special.fim_suffix,
             *special.fim_middle, prefix_tokens.begin(), prefix_tokens.end(), suffix_tokens.begin(),
             suffix_tokens.end());
  return prompt;
}

}  // namespace mnemo::model
