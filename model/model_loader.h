// One call from a path to everything a caller needs to run a model: the transformer and
// the tokenizer of the same checkpoint.
#pragma once

#include <memory>
#include <string>

#include "model/language_model.h"
#include "model/result.h"
#include "model/tokenizer/tokenizer.h"
#include "model/transformer.h"

namespace mnemo::model {

struct LoadedModel {
  std::shared_ptr<const Transformer> transformer;
  std::shared_ptr<const Tokenizer> tokenizer;
};

/// `path`: a GGUF file or a Hugging Face folder (see Checkpoint::open). Errors name the file.
Result<LoadedModel, ModelError> load_model(const std::string& path);

}  // namespace mnemo::model
