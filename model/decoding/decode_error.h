// How decoding tells a cancelled request apart from a failed one. ModelError (in
// language_model.h) carries only a message, so cancellation is a message with a fixed
// prefix that is_cancelled() recognizes; callers use these two functions and never parse
// the message themselves.
#pragma once

#include <cstddef>
#include <string_view>

#include "model/language_model.h"

namespace mnemo::model {

/// The prefix of every cancellation message ("cancelled: ...").
inline constexpr std::string_view kCancelledPrefix = "cancelled: ";

/// The error generate() and beam_search() return when their CancelCheck fired before
/// forward pass number `step` (0 is the prompt).
ModelError cancelled_error(std::size_t step);

/// True when `error` reports a cancellation rather than a failure.
bool is_cancelled(const ModelError& error);

}  // namespace mnemo::model
