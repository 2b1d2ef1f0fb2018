// Cancellation errors (see decode_error.h).
#include "model/decoding/decode_error.h"

#include <string>

namespace mnemo::model {

ModelError cancelled_error(std::size_t step) {
  return ModelError{"cancelled: decoding was cancelled before forward pass " + std::to_string(step),
                    ModelError::Kind::kCancelled};
}

bool is_cancelled(const ModelError& error) {
  return error.kind == ModelError::Kind::kCancelled;
}

}  // namespace mnemo::model
