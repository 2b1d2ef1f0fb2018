// A preference for the identifiers a repository has. While the text ends
// inside an identifier (what the user typed before the cursor, or what the model has
// generated), each next token that keeps it on the way to a known identifier, or ends it
// as one, gets `boost` added to its logit. Names the repository does not have (a library's,
// a new local) stay possible: nothing is forbidden, known ones are only made likelier.
//
// The known identifiers are a sorted array, a prefix index as good as a trie for these
// lookups (a prefix's words are one contiguous range, found by binary search) at a fraction
// of its memory.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/decoding/generation.h"
#include "model/tokenizer/tokenizer.h"

namespace mnemo::model {

/// The identifiers to prefer, sorted and unique.
class KnownIdentifiers {
 public:
  explicit KnownIdentifiers(std::vector<std::string> words);
  /// Some known identifier starts with `prefix` (all do with an empty one).
  bool has_prefix(std::string_view prefix) const;
  bool contains(std::string_view word) const;
  std::size_t size() const { return words_.size(); }

 private:
  std::vector<std::string> words_;
};

/// The identifiers of a text (C-like: letters, digits, '_' and UTF-8 bytes, not starting
/// with a digit), each once.
KnownIdentifiers identifiers_of(std::string_view text);

/// Each token's bytes as far as identifiers go: how many of its first bytes are identifier
/// bytes, and whether all are. Made once per tokenizer (it decodes every token).
class TokenIdentifierTable {
 public:
  explicit TokenIdentifierTable(const Tokenizer& tokenizer);
  std::size_t n_vocab() const { return texts_.size(); }
  const std::string& text(TokenId id) const { return texts_[static_cast<std::size_t>(id)]; }
  /// Bytes [0, n) of the token are identifier bytes (letters, digits, '_', >= 0x80).
  std::size_t identifier_run(TokenId id) const { return runs_[static_cast<std::size_t>(id)]; }

 private:
  std::vector<std::string> texts_;
  std::vector<std::size_t> runs_;
};

/// The bias for a generation that follows `before` (the document up to the cursor): see the
/// file comment. An identifier is known when one of `known` has it (e.g. the repository's
/// and the document's). `table` and the sets must outlive the returned function.
LogitBias identifier_bias(const TokenIdentifierTable& table,
                          std::vector<const KnownIdentifiers*> known, std::string before,
                          float boost);

}  // namespace mnemo::model
