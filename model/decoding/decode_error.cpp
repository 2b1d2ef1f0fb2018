// Cancellation errors (see decode_error.h).
#include "model/decoding/decode_error.h"

#include <string>

namespace mnemo::model {

ModelError cancelled_error(std::size_t step) {
  return ModelError{std::string(kCancelledPrefix) + "decoding was cancelled before forward pass " +
                    std::to_string(step)};
}

bool is_cancelled(const ModelError& error) {
  return std::string_view(error.message).substr(0, kCancelledPrefix.size()) == kCancelledPrefix;
}

}  // namespace mnemo::model
