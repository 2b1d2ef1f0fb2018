// The names at a cursor (cursor_names.h) as the completer holds the suggestion's first
// identifier to them (model/decoding/name_constraint.h): every name with its prior, an
// identifier required after `.`, `->` or `::`, nothing held where a new name is declared.
// Shared by `mnemo complete`, `mnemo eval` and `mnemo serve`, so the three hold alike.
#pragma once

#include <memory>

#include "model/decoding/name_constraint.h"
#include "server/completion/completion_settings.h"
#include "server/names/cursor_names.h"

namespace mnemo::server {

struct HeldNames {
  std::shared_ptr<const model::NameSet> names;  ///< null: the suggestion is free
  model::NameSlot slot;
};

/// `settings`' λ (member_prior_weight at a member access, name_prior_weight elsewhere): how
/// much the names' priors weigh against the model.
HeldNames held_names(const CursorNames& names, const CompletionSettings& settings);

}  // namespace mnemo::server
