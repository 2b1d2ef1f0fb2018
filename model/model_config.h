// The hyper-parameters of a Llama-family checkpoint, read from GGUF metadata or a Hugging
// Face config.json into one native struct, so the transformer never sees either format.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "model/language_model.h"  // ModelError
#include "model/result.h"

namespace mnemo::model {

class GgufFile;

enum class Architecture {
  kLlama,  ///< Llama 1-3, SmolLM, Mistral without sliding window, DeepSeek-Coder, ...
  kQwen2,  ///< Llama plus q/k/v biases
};

struct ModelConfig {
  Architecture architecture = Architecture::kLlama;
  std::size_t n_vocab = 0;
  std::size_t n_embd = 0;
  std::size_t n_layer = 0;
  std::size_t n_head = 0;
  std::size_t n_head_kv = 0;
  std::size_t head_dim = 0;
  std::size_t n_ff = 0;
  std::size_t n_ctx_train = 0;
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  /// Linear RoPE scaling: positions are multiplied by this (1 / the HF "factor").
  float rope_freq_scale = 1.0f;
  /// Per-frequency divisors (Llama 3.1 "llama3" scaling); empty for none. head_dim / 2 values.
  std::vector<float> rope_freq_factors;
  bool qkv_bias = false;
  /// The layers the model was trained to read the repository memory at (mnemo's own
  /// models record them in config.json as mnemo.memory_layers); empty for any other model.
  std::vector<std::size_t> memory_layers;
};

/// Reads `general.architecture` and `<arch>.*` keys. Unknown architectures and unsupported
/// RoPE scaling are errors naming the file and the key.
Result<ModelConfig, ModelError> config_from_gguf(const GgufFile& gguf);

/// Reads a Hugging Face config.json (LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM
/// without sliding window).
Result<ModelConfig, ModelError> config_from_hf_json(const std::string& path);

std::string to_string(Architecture architecture);

/// The layers that read the repository memory in a model of `n_layer` layers: two, at about
/// the middle and three quarters of the depth, where retrieval heads sit in most decoders.
/// The indexer stores keys and values of these layers; mnemo's own model is trained so.
std::vector<std::size_t> default_memory_layers(std::size_t n_layer);

/// The layers the indexer keeps and the server reads for this model: those it was trained
/// with, else default_memory_layers.
std::vector<std::size_t> memory_layers(const ModelConfig& config);

}  // namespace mnemo::model
