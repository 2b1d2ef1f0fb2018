// A checkpoint on disk — a GGUF file or a Hugging Face folder (config.json plus one or
// several safetensors files) — seen as one thing: a ModelConfig and weights by their
// Hugging Face names, in Hugging Face layout, as float32 tensors. Quantized GGUF tensors
// are dequantized when read (4 bytes per parameter in memory); llama's GGUF q/k rows are
// un-permuted, so the transformer sees one layout whatever the file.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>

#include "model/language_model.h"  // ModelError
#include "model/model_config.h"
#include "model/quantized_matrix.h"
#include "model/result.h"

namespace mnemo::model {

class GgufFile;

/// Where the tokenizer of a checkpoint lives: GGUF metadata or a tokenizer.json.
struct TokenizerSource {
  std::shared_ptr<const GgufFile> gguf;
  std::string tokenizer_json;
};

/// Immutable after open(); weight() may be called from several threads.
class Checkpoint {
 public:
  virtual ~Checkpoint() = default;

  /// `path` is a .gguf file or a folder holding config.json and model.safetensors (or the
  /// sharded model.safetensors.index.json form). Errors name the file and the problem.
  static Result<std::unique_ptr<Checkpoint>, ModelError> open(const std::string& path);

  virtual const std::string& path() const = 0;
  virtual const ModelConfig& config() const = 0;
  virtual TokenizerSource tokenizer_source() const = 0;

  /// True when the checkpoint holds the weight (e.g. "lm_head.weight" is absent when the
  /// output is tied to the embeddings).
  virtual bool has(const std::string& hf_name) const = 0;
  /// The weight called `hf_name` in Hugging Face checkpoints, shape [out, in] or [n].
  virtual Result<at::Tensor, ModelError> weight(const std::string& hf_name) const = 0;

  /// The same 2-D weight still in its file's block format, when the file stores it in one
  /// (any GGUF type but F32), with HF row order; nullopt for float checkpoints. Computing
  /// with it reproduces llama.cpp's arithmetic and keeps the file's size in memory.
  virtual Result<std::optional<QuantizedMatrix>, ModelError> quantized_weight(
      const std::string& hf_name) const {
    (void)hf_name;
    return std::optional<QuantizedMatrix>();
  }
};

}  // namespace mnemo::model
