#include "model/decoding/name_constraint.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace mnemo::model {
namespace {

constexpr double kNone = -std::numeric_limits<double>::infinity();

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

bool is_identifier_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c >= 0x80;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

NameSet::NameSet(std::vector<WeightedName> names) : names_(std::move(names)) {
  std::sort(names_.begin(), names_.end(), [](const WeightedName& a, const WeightedName& b) {
    return a.name != b.name ? a.name < b.name : a.log_weight > b.log_weight;
  });
  names_.erase(std::unique(names_.begin(), names_.end(),
                           [](const WeightedName& a, const WeightedName& b) {
                             return a.name == b.name;  // the first, the largest weight, stays
                           }),
               names_.end());
  const std::size_t n = names_.size();
  tree_.assign(2 * n, kNone);
  for (std::size_t i = 0; i < n; ++i) tree_[n + i] = names_[i].log_weight;
  for (std::size_t i = n; i-- > 1;) tree_[i] = std::max(tree_[2 * i], tree_[2 * i + 1]);
}

std::pair<std::size_t, std::size_t> NameSet::range(std::string_view prefix) const {
  const auto first =
      std::lower_bound(names_.begin(), names_.end(), prefix,
                       [](const WeightedName& w, std::string_view p) { return w.name < p; });
  const auto last = std::partition_point(first, names_.end(), [&](const WeightedName& w) {
    return w.name.compare(0, prefix.size(), prefix) == 0;
  });
  return {static_cast<std::size_t>(first - names_.begin()),
          static_cast<std::size_t>(last - names_.begin())};
}

double NameSet::range_max(std::size_t first, std::size_t last) const {
  double best = kNone;
  const std::size_t n = names_.size();
  for (first += n, last += n; first < last; first /= 2, last /= 2) {
    if (first & 1) best = std::max(best, tree_[first++]);
    if (last & 1) best = std::max(best, tree_[--last]);
  }
  return best;
}

bool NameSet::has_prefix(std::string_view prefix) const {
  const auto [first, last] = range(prefix);
  return first < last;
}

bool NameSet::contains(std::string_view name) const {
  const auto [first, last] = range(name);
  return first < last && names_[first].name == name;
}

double NameSet::best_weight(std::string_view prefix) const {
  const auto [first, last] = range(prefix);
  return range_max(first, last);
}

double NameSet::weight(std::string_view name) const {
  const auto [first, last] = range(name);
  return first < last && names_[first].name == name ? names_[first].log_weight : kNone;
}

std::string NameSet::next_bytes(std::string_view prefix) const {
  auto [at, last] = range(prefix);
  std::string out;
  std::string longer(prefix);
  while (at < last) {
    const std::string& name = names_[at].name;
    if (name.size() == prefix.size()) {  // the prefix itself: sorts first
      ++at;
      continue;
    }
    out += name[prefix.size()];
    longer.resize(prefix.size());
    longer += name[prefix.size()];
    at = range(longer).second;  // past every name that goes on with this byte
  }
  return out;
}

LogitBias name_constraint(const TokenIdentifierTable& table, const NameSet& names, NameSlot slot) {
  return [&table, &names, slot](std::string_view generated,
                                std::vector<std::pair<TokenId, float>>& add) {
    if (names.empty()) return;
    // The identifier written so far: the generation after its leading blanks.
    std::size_t start = 0;
    while (start < generated.size() && is_blank(generated[start])) ++start;
    const std::string_view word = generated.substr(start);
    if (!word.empty() && is_digit(word[0])) return;  // began with a number: not a name
    for (const char c : word)
      if (!is_identifier_byte(static_cast<unsigned char>(c))) return;  // the identifier ended
    if (!word.empty() && !names.has_prefix(word)) return;              // a new name: left free
    const double lambda = slot.prior_weight;
    const double best_before = names.best_weight(word);
    const bool complete = names.contains(word);
    const double end_addition = complete ? lambda * (names.weight(word) - best_before) : 0;
    std::array<bool, 256> goes_on{};
    for (const char c : names.next_bytes(word)) goes_on[static_cast<unsigned char>(c)] = true;
    // Whether a token may end the identifier here (or, with none begun, begin something else).
    const bool may_end = word.empty() ? !slot.required : complete;
    const float ending = word.empty() ? 0.0f : static_cast<float>(end_addition);

    std::string longer(word);
    for (std::size_t id = 0; id < table.n_vocab(); ++id) {
      const auto token = static_cast<TokenId>(id);
      const std::string& text = table.text(token);
      float addition = 0;
      bool allowed = true;
      // Before the identifier begins, a token's leading blanks are still the slot's blanks.
      std::size_t skip = 0;
      if (word.empty())
        while (skip < text.size() && is_blank(text[skip])) ++skip;
      if (text.empty()) {  // a control token: the end of the generation
        allowed = may_end;
        addition = ending;
      } else if (skip == text.size()) {
        // Blanks only: nothing begun yet (with a word begun, skip is 0 and this is not reached).
      } else {
        const std::string_view rest = std::string_view(text).substr(skip);
        std::size_t run = 0;
        while (run < rest.size() && is_identifier_byte(static_cast<unsigned char>(rest[run])))
          ++run;
        if (run == 0) {
          allowed = may_end;
          addition = ending;
        } else if (word.empty() && is_digit(rest[0])) {
          allowed = !slot.required;  // a number, not a name
        } else if (!goes_on[static_cast<unsigned char>(rest[0])]) {
          allowed = false;
        } else {
          longer.resize(word.size());
          longer.append(rest.substr(0, run));
          const double reached =
              run == rest.size() ? names.best_weight(longer) : names.weight(longer);
          allowed = reached != kNone;
          if (allowed) addition = static_cast<float>(lambda * (reached - best_before));
        }
      }
      if (!allowed) {
        add.emplace_back(token, kRuledOut);
      } else if (addition != 0) {
        add.emplace_back(token, addition);
      }
    }
  };
}

LogitBias require_name(const TokenIdentifierTable& table, std::string text) {
  return [&table, text = std::move(text)](std::string_view generated,
                                          std::vector<std::pair<TokenId, float>>& add) {
    if (generated.size() > text.size()) return;
    const std::string_view rest = std::string_view(text).substr(generated.size());
    for (std::size_t id = 0; id < table.n_vocab(); ++id) {
      const std::string_view t = table.text(static_cast<TokenId>(id));
      bool keeps;
      if (rest.empty()) {  // written: the next byte must not go on with the name
        keeps = t.empty() || !is_identifier_byte(static_cast<unsigned char>(t[0]));
      } else if (t.empty()) {
        keeps = false;
      } else if (t.size() <= rest.size()) {
        keeps = rest.substr(0, t.size()) == t;
      } else {
        keeps = t.substr(0, rest.size()) == rest &&
                !is_identifier_byte(static_cast<unsigned char>(t[rest.size()]));
      }
      if (!keeps) add.emplace_back(static_cast<TokenId>(id), kRuledOut);
    }
  };
}

}  // namespace mnemo::model
