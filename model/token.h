// Token ids, shared by the tokenizer, the transformer and decoding.
#pragma once

#include <cstdint>
#include <vector>

namespace mnemo::model {

using TokenId = std::int32_t;
using Tokens = std::vector<TokenId>;

}  // namespace mnemo::model
