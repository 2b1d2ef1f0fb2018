// A byte trie over the texts of the added tokens (control, user-defined), so that encode()
// learns in one pass over the input which of them occur at all; only those take part in
// the (llama.cpp-exact, but per-token) partition of the text.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "model/token.h"

namespace mnemo::model {

/// Immutable after the inserts; find_all() may run on several threads at once.
class TokenTrie {
 public:
  TokenTrie();
  /// Adds `text` (non-empty) for `id`; a second insert of the same text keeps the first id.
  void insert(std::string_view text, TokenId id);
  bool empty() const { return nodes_.size() == 1; }

  /// Calls `found(id)` for every occurrence of every inserted text in `text`.
  template <class Found>
  void find_all(std::string_view text, Found&& found) const {
    for (std::size_t start = 0; start < text.size(); ++start) {
      std::int32_t node = root_[static_cast<std::uint8_t>(text[start])];
      for (std::size_t pos = start + 1; node >= 0; ++pos) {
        if (nodes_[static_cast<std::size_t>(node)].token >= 0) {
          found(nodes_[static_cast<std::size_t>(node)].token);
        }
        if (pos >= text.size()) break;
        node = child(node, static_cast<std::uint8_t>(text[pos]));
      }
    }
  }

 private:
  struct Node {
    TokenId token = -1;
    std::vector<std::pair<std::uint8_t, std::int32_t>> children;  ///< sorted by byte
  };
  std::int32_t child(std::int32_t node, std::uint8_t byte) const;

  std::array<std::int32_t, 256> root_;  ///< the root's children, -1 where none
  std::vector<Node> nodes_;             ///< nodes_[0] is the root (its children live in root_)
};

}  // namespace mnemo::model
