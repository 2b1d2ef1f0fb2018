// The names at a cursor (cursor_names.h) as the completer holds the suggestion's first
// identifier to them (model/decoding/name_constraint.h): every name with its prior, an
// identifier required after `.`, `->` or `::`, nothing held where a new name is declared.
// Shared by `mnemo complete`, `mnemo eval` and `mnemo serve`, so the three hold alike.
#pragma once

#include <memory>

#include "model/decoding/name_constraint.h"
#include "server/names/cursor_names.h"

namespace mnemo::server {

struct HeldNames {
  std::shared_ptr<const model::NameSet> names;  ///< null: the suggestion is free
  model::NameSlot slot;
};

/// `prior_weight`: λ, how much the names' priors weigh against the model.
HeldNames held_names(const CursorNames& names, float prior_weight);

}  // namespace mnemo::server
