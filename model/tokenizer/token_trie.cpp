#include "model/tokenizer/token_trie.h"

#include <algorithm>

namespace mnemo::model {

TokenTrie::TokenTrie() : nodes_(1) {
  root_.fill(-1);
}

std::int32_t TokenTrie::child(std::int32_t node, std::uint8_t byte) const {
  const auto& children = nodes_[static_cast<std::size_t>(node)].children;
  const auto it =
      std::lower_bound(children.begin(), children.end(), byte,
                       [](const auto& entry, std::uint8_t b) { return entry.first < b; });
  return it != children.end() && it->first == byte ? it->second : -1;
}

void TokenTrie::insert(std::string_view text, TokenId id) {
  if (text.empty()) return;
  std::int32_t node = -1;
  for (const char c : text) {
    const auto byte = static_cast<std::uint8_t>(c);
    std::int32_t next = node < 0 ? root_[byte] : child(node, byte);
    if (next < 0) {
      next = static_cast<std::int32_t>(nodes_.size());
      nodes_.emplace_back();
      if (node < 0) {
        root_[byte] = next;
      } else {
        auto& children = nodes_[static_cast<std::size_t>(node)].children;
        const auto it =
            std::lower_bound(children.begin(), children.end(), byte,
                             [](const auto& entry, std::uint8_t b) { return entry.first < b; });
        children.insert(it, {byte, next});
      }
    }
    node = next;
  }
  TokenId& token = nodes_[static_cast<std::size_t>(node)].token;
  if (token < 0) token = id;
}

}  // namespace mnemo::model
