#include "model/decoding/identifier_bias.h"

#include <algorithm>
#include <utility>

namespace mnemo::model {
namespace {

bool is_identifier_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c >= 0x80;
}

/// The identifier the text ends in (empty when it does not end in one, or in a number).
std::string_view trailing_identifier(std::string_view text) {
  std::size_t start = text.size();
  while (start > 0 && is_identifier_byte(static_cast<unsigned char>(text[start - 1]))) --start;
  const std::string_view word = text.substr(start);
  if (!word.empty() && word[0] >= '0' && word[0] <= '9') return {};
  return word;
}

}  // namespace

KnownIdentifiers::KnownIdentifiers(std::vector<std::string> words) : words_(std::move(words)) {
  std::sort(words_.begin(), words_.end());
  words_.erase(std::unique(words_.begin(), words_.end()), words_.end());
}

bool KnownIdentifiers::has_prefix(std::string_view prefix) const {
  const auto it = std::lower_bound(words_.begin(), words_.end(), prefix,
                                   [](const std::string& w, std::string_view p) { return w < p; });
  return it != words_.end() && std::string_view(*it).substr(0, prefix.size()) == prefix;
}

bool KnownIdentifiers::contains(std::string_view word) const {
  return std::binary_search(words_.begin(), words_.end(), word,
                            [](std::string_view a, std::string_view b) { return a < b; });
}

KnownIdentifiers identifiers_of(std::string_view text) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_identifier_byte(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    const std::size_t start = i;
    while (i < text.size() && is_identifier_byte(static_cast<unsigned char>(text[i]))) ++i;
    if (text[start] < '0' || text[start] > '9') words.emplace_back(text.substr(start, i - start));
  }
  return KnownIdentifiers(std::move(words));
}

TokenIdentifierTable::TokenIdentifierTable(const Tokenizer& tokenizer) {
  const std::size_t n = tokenizer.n_vocab();
  texts_.reserve(n);
  runs_.reserve(n);
  Tokens one(1);
  for (std::size_t id = 0; id < n; ++id) {
    one[0] = static_cast<TokenId>(id);
    texts_.push_back(tokenizer.decode(one, false));  // control tokens: empty
    const std::string& t = texts_.back();
    std::size_t run = 0;
    while (run < t.size() && is_identifier_byte(static_cast<unsigned char>(t[run]))) ++run;
    runs_.push_back(run);
  }
}

LogitBias identifier_bias(const TokenIdentifierTable& table,
                          std::vector<const KnownIdentifiers*> known, std::string before,
                          float boost) {
  return [&table, known = std::move(known), before = std::move(before), boost](
             std::string_view generated, std::vector<std::pair<TokenId, float>>& add) {
    const auto has_prefix = [&](std::string_view prefix) {
      return std::any_of(known.begin(), known.end(),
                         [&](const KnownIdentifiers* k) { return k->has_prefix(prefix); });
    };
    const auto contains = [&](std::string_view word) {
      return std::any_of(known.begin(), known.end(),
                         [&](const KnownIdentifiers* k) { return k->contains(word); });
    };
    // The identifier being written: the end of the document's, continued by the generation.
    std::string word(trailing_identifier(generated));
    if (word.size() == generated.size()) word = std::string(trailing_identifier(before)) + word;
    if (word.empty() || !has_prefix(word)) return;  // nothing known to steer toward
    const bool word_known = contains(word);
    std::string longer = word;
    for (std::size_t id = 0; id < table.n_vocab(); ++id) {
      const auto token = static_cast<TokenId>(id);
      const std::string& text = table.text(token);
      if (text.empty()) continue;
      const std::size_t run = table.identifier_run(token);
      bool preferred;
      if (run == 0) {
        preferred = word_known;  // ends the identifier here
      } else {
        longer.resize(word.size());
        longer.append(text, 0, run);
        // All identifier bytes: the identifier goes on; otherwise it ends inside the token.
        preferred = run == text.size() ? has_prefix(longer) : contains(longer);
      }
      if (preferred) add.emplace_back(token, boost);
    }
  };
}

}  // namespace mnemo::model
