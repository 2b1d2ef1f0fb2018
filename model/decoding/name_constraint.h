// Names held to: while a suggestion writes the identifier at the cursor, every next token
// must keep it on the way to one of the names that can go there (the candidates the server
// knows exactly: the members libclang finds after `.`, `->` or `::`, the names in scope
// elsewhere) or end it as one of them. This is monitor-guided decoding (arXiv 2306.10763):
// a small model cannot remember a repository's names, so it only chooses among them.
//
// Each name carries a prior, a log-weight from cheap signals (used in this file, declared
// nearby, how often the repository uses it). The constraint spreads the prior over the
// tokens that spell a name: a token's addition is λ times how much the best prior still
// reachable falls with it, so the additions along a name sum to λ (w(name) − w_max) and
// are never positive. A search over the biased model then ranks whole names by the model's
// log-probability plus λ times their prior deficit, the best-prior name paying nothing
// and an identifier as a whole never made likelier than the model has it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/decoding/generation.h"
#include "model/decoding/identifier_bias.h"

namespace mnemo::model {

struct WeightedName {
  std::string name;
  double log_weight = 0;  ///< the prior: higher is likelier
};

/// The names that can go at a cursor, sorted, each once (a name given twice keeps its
/// largest weight). Immutable; any thread may read it.
class NameSet {
 public:
  explicit NameSet(std::vector<WeightedName> names);

  std::size_t size() const { return names_.size(); }
  bool empty() const { return names_.empty(); }
  const std::vector<WeightedName>& names() const { return names_; }

  bool has_prefix(std::string_view prefix) const;
  bool contains(std::string_view name) const;
  /// The largest log-weight of the names that start with `prefix` (all of them for an empty
  /// one); -infinity when none does.
  double best_weight(std::string_view prefix) const;
  /// The name's log-weight; -infinity when it is not in the set.
  double weight(std::string_view name) const;
  /// The bytes that follow `prefix` in the names that go on past it (each once, sorted).
  std::string next_bytes(std::string_view prefix) const;

 private:
  /// [first, last) of the names that start with `prefix`.
  std::pair<std::size_t, std::size_t> range(std::string_view prefix) const;
  /// The largest weight of names_[first, last) (a segment tree over the weights).
  double range_max(std::size_t first, std::size_t last) const;

  std::vector<WeightedName> names_;
  std::vector<double> tree_;  ///< tree_[n + i] = names_[i].log_weight; inner nodes the max
};

struct NameSlot {
  /// An identifier must be written (after `.`, `->` or `::`): a token that starts anything
  /// else is ruled out. Otherwise the suggestion may begin with something else (a bracket, a
  /// literal), and only an identifier it begins with is held to the names.
  bool required = false;
  /// λ: how much of the prior's deficit is added (0: the names constrain but do not rank).
  float prior_weight = 1.0f;
};

/// The bias for the identifier a generation begins with (after any spaces and tabs): see the
/// file comment. Once that identifier has ended, or the generation began with something
/// else, it adds nothing. An identifier begun that no name continues (possible only where
/// the generation was not held from its start) is left free. `table` and `names` must
/// outlive the returned function.
LogitBias name_constraint(const TokenIdentifierTable& table, const NameSet& names, NameSlot slot);

/// Holds a generation to writing `text` (the blanks before a name and the name) and then
/// ending the identifier there: a token that would make the name longer is ruled out. After
/// that it adds nothing. `table` must outlive the returned function.
LogitBias require_name(const TokenIdentifierTable& table, std::string text);

}  // namespace mnemo::model
