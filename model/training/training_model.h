// mnemo's own model as it is trained: the Llama-family decoder of
// model/transformer.h (RMSNorm, grouped-query attention with RoPE, SwiGLU, tied embedding),
// written with differentiable ATen ops over parameters named as a Hugging Face Llama
// checkpoint names them, so a trained model is saved as an HF folder that model/ loads like
// any other. Its memory layers read a TrainingMemory (training_memory.h) merged with the
// local causal attention by log-sum-exp, as the runtime merges the exact tier.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "model/model_config.h"
#include "model/rope.h"
#include "model/training/training_memory.h"

namespace mnemo::model::training {

struct ModelShape {
  std::int64_t vocab = 8192;
  std::int64_t dim = 256;
  std::int64_t layers = 4;
  std::int64_t heads = 4;
  std::int64_t kv_heads = 2;
  std::int64_t head_dim = 64;
  std::int64_t ffn = 688;
  std::int64_t context = 512;  ///< the window trained on (the model's n_ctx_train)
  double rope_theta = 10000;
  double rms_norm_eps = 1e-5;
  /// A learned token shift at the input (model.embed_shift.weight, from zero): x_t = e_t +
  /// s ⊙ e_{t-1}. Keys then carry the token before theirs, so a single attention layer can
  /// find what followed the current token earlier, which copying needs; without it two
  /// layers must learn to cooperate first (Olsson et al. 2022's smeared keys).
  bool token_shift = false;

  /// The runtime's view of it (model/model_config.h).
  ModelConfig config() const;
  /// Hugging Face's config.json for it (LlamaForCausalLM, tied embedding).
  nlohmann::json hf_config() const;
  static ModelShape from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
};

/// What a forward pass leaves for the memory: per memory layer, the keys before RoPE and the
/// values of every position, [B, Hkv, T, D] each, detached.
struct MemoryTap {
  std::vector<at::Tensor> keys, values;
  /// Per memory layer that read a memory in forward(): the share of each query head's
  /// attention that went to the memory, [B, T, H], detached (how much the model uses it).
  std::vector<at::Tensor> memory_share;
};

class TrainingModel {
 public:
  /// Parameters initialized as GPT-2/Llama do (normal, std 0.02; residual projections scaled
  /// by 1/sqrt(2·layers); norms at 1), from `seed` (the same on every device), kept on
  /// `device`.
  TrainingModel(ModelShape shape, std::vector<std::size_t> memory_layers, std::uint64_t seed,
                at::Device device = at::kCPU);

  /// tokens [B, T] int64 (on any device) → logits [B, T, vocab] on the model's device. With
  /// `memory` (may be empty), the memory layers read it; with `tap`, their keys and values are
  /// kept.
  at::Tensor forward(const at::Tensor& tokens, const TrainingMemory* memory,
                     MemoryTap* tap = nullptr) const;
  /// What the memory keeps of `tokens` [B, T], as the indexer encodes a file: the memory
  /// layers' keys and values from a pass that reads no memory, stopping after the last of
  /// them. No gradient.
  MemoryTap encode(const at::Tensor& tokens) const;

  /// By HF name ("model.layers.0.self_attn.q_proj.weight", ...), each requiring grad.
  const std::map<std::string, at::Tensor>& parameters() const { return parameters_; }
  /// Replaces the values (same names and shapes), e.g. from a checkpoint. A token shift
  /// missing from `values` (a model trained without one) stays at zero, which is none; a
  /// tensor of `values` this shape has no place for throws std::invalid_argument.
  void load(const std::map<std::string, at::Tensor>& values);
  std::int64_t parameter_count() const;

  const ModelShape& shape() const { return shape_; }
  at::Device device() const { return rope_.cos.device(); }
  const std::vector<std::size_t>& memory_layers() const { return memory_layers_; }

 private:
  const at::Tensor& p(const std::string& name) const { return parameters_.at(name); }
  /// forward(), or with `logits` false encode()'s pass.
  at::Tensor run(const at::Tensor& tokens, const TrainingMemory* memory, MemoryTap* tap,
                 bool logits) const;

  ModelShape shape_;
  std::vector<std::size_t> memory_layers_;
  std::map<std::string, at::Tensor> parameters_;
  RopeTables rope_;  ///< positions 0..context + memory slots
};

}  // namespace mnemo::model::training
