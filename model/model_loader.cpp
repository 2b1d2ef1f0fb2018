#include "model/model_loader.h"

#include "model/checkpoint.h"

namespace mnemo::model {

Result<LoadedModel, ModelError> load_model(const std::string& path) {
  auto checkpoint = Checkpoint::open(path);
  if (!checkpoint) return checkpoint.error();
  const TokenizerSource source = checkpoint.value()->tokenizer_source();
  auto tokenizer = source.gguf ? Tokenizer::from_gguf(*source.gguf)
                               : Tokenizer::from_tokenizer_json(source.tokenizer_json);
  if (!tokenizer) return ModelError{tokenizer.error().message};
  auto transformer = Transformer::load(*checkpoint.value());
  if (!transformer) return transformer.error();
  if (tokenizer.value()->n_vocab() > transformer.value()->config().n_vocab) {
    return ModelError{path + ": the tokenizer has " + std::to_string(tokenizer.value()->n_vocab()) +
                      " tokens but the model only " +
                      std::to_string(transformer.value()->config().n_vocab)};
  }
  return LoadedModel{std::move(transformer).value(), std::move(tokenizer).value()};
}

}  // namespace mnemo::model
