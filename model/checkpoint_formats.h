// The two kinds of Checkpoint; Checkpoint::open picks one by the path.
#pragma once

#include <memory>
#include <string>

#include "model/checkpoint.h"

namespace mnemo::model {

Result<std::unique_ptr<Checkpoint>, ModelError> open_gguf_checkpoint(const std::string& path);
Result<std::unique_ptr<Checkpoint>, ModelError> open_hf_checkpoint(const std::string& folder);

}  // namespace mnemo::model
