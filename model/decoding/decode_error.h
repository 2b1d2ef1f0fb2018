// The error decoding returns when it is cancelled (ModelError::Kind::kCancelled, with a
// message saying where it stopped).
#pragma once

#include <cstddef>
#include <string_view>

#include "model/language_model.h"

namespace mnemo::model {

/// The error generate() and beam_search() return when their CancelCheck fired before
/// forward pass number `step` (0 is the prompt).
ModelError cancelled_error(std::size_t step);

/// True when `error` reports a cancellation rather than a failure.
bool is_cancelled(const ModelError& error);

}  // namespace mnemo::model
