// The Llama-family decoder (Llama, Mistral, SmolLM, Qwen2): token embedding, n_layer blocks
// of RMSNorm → grouped-query attention with RoPE → RMSNorm → SwiGLU, a final RMSNorm and
// the output projection (tied to the embedding when the checkpoint has none). mnemo's own
// models may add a token shift at the input (model.embed_shift.weight, s [E]):
// x_t = e_t + s ⊙ e_{t-1}, so that one attention layer's keys carry the token before theirs.
// Written once with ATen ops, so the same code runs on CPU and CUDA.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/checkpoint.h"
#include "model/kv_cache.h"
#include "model/linear.h"
#include "model/memory/memory_source.h"
#include "model/model_config.h"
#include "model/rope.h"
#include "model/token.h"

namespace mnemo::model {

/// What a decoding step reads besides its KV cache: the repository's long-term memory. At
/// model layer layers[i], the step's attention over its cache is merged exactly (by
/// log-sum-exp) with source->attend() of memory layer i (model/memory/memory_source.h),
/// whose retrieved tokens sit just before the sequence's first position.
struct MemoryReader {
  std::vector<std::size_t> layers;
  const memory::MemorySource* source = nullptr;
  /// Consecutive decoding steps of a session that read what the first of them chose
  /// (MemoryQuery::choice): mnemo's model is trained with 16 consecutive queries sharing
  /// their blocks, and choosing is what costs more as the memory grows. 1: every step
  /// chooses for its own query.
  std::size_t tokens_per_choice = 1;
  /// The share λ of the next-token distribution that the memory's votes get
  /// (source->next_token(), read with the step's final state): p = (1 - λ) p_model +
  /// λ p_memory, as in kNN-LM. 0: the model's alone.
  float next_token_weight = 0;
};

/// The outputs of one decoding step (batch 1), allocated once per session so that decoding
/// a token creates no tensor storage: every op writes into these.
struct DecodeWorkspace {
  at::Tensor x;               // [1, E] the residual stream
  at::Tensor h;               // [1, E] normed input / projection output
  at::Tensor qkv;             // [1, (H + 2 Hkv) D]
  at::Tensor qk_rot;          // [1, H + Hkv, D]
  at::Tensor o;               // [H, 1, D]
  at::Tensor lse;             // [H, 1]
  at::Tensor gate_up;         // [1, 2 F]
  at::Tensor act;             // [1, F]
  at::Tensor logits;          // [1, V]
  std::vector<float> scores;  // attention scratch, one float per cached position
  /// Per memory layer, what the memory chose to read (MemoryReader::tokens_per_choice), and
  /// last the next-token read's choice.
  std::vector<std::unique_ptr<memory::MemoryChoice>> memory_choices;
};

/// The keys and values of chosen layers as forward() computes them, for the long-term
/// memory: keys before RoPE (the memory keeps them position-free and rotates the blocks it
/// retrieves itself), values as they are. forward() sets keys[i] and values[i], each
/// [Hkv, T, D], for layer layers[i], and inputs[i] [T, E]: the layer's normed input, which
/// its K/V projections read (what the continuous tier folds in). With `final_states`,
/// forward_tap() also sets states [T, E]: the final normed state of every token, which the output
/// projection turns into its logits (what the memory's next-token read keeps).
struct KeyValueTap {
  std::vector<std::size_t> layers;
  bool final_states = false;
  std::vector<at::Tensor> keys, values, inputs;
  at::Tensor states;
};

/// Immutable after load(); forward() may run concurrently on different caches.
class Transformer {
 public:
  /// Reads every weight of `checkpoint` and moves it to `device`. On the CPU, matrices a
  /// GGUF file stores quantized (or F16) stay so and are multiplied as llama.cpp does
  /// (QuantizedMatrix); everything else is float32. Q, K and V are fused into one matrix,
  /// and gate and up into another, so a block is four matmuls.
  static Result<std::shared_ptr<const Transformer>, ModelError> load(
      const Checkpoint& checkpoint, const at::Device& device = at::kCPU);

  const ModelConfig& config() const { return config_; }
  /// The most positions a sequence may reach: the training context, capped so that the
  /// RoPE tables of a long-context model stay small (64k positions).
  std::size_t max_positions() const {
    return std::max<std::size_t>(1, std::min<std::size_t>(config_.n_ctx_train, 65536));
  }
  at::TensorOptions options() const { return embedding_.options(); }

  /// Runs `tokens` at positions cache.size()... and appends their keys and values to
  /// `cache` (which must have room). Returns the logits [T, n_vocab] of every token when
  /// `all_logits`, else [1, n_vocab] of the last one; fills `tap` when given. Call under
  /// c10::InferenceMode.
  at::Tensor forward(const Tokens& tokens, KvCache& cache, bool all_logits,
                     KeyValueTap* tap = nullptr) const;
  /// What the long-term memory needs of `tokens` and no more: the blocks up to the last
  /// layer in `tap` (of that one, only the Q/K/V projection; every block and the final norm
  /// when the tap wants final states), no logits. The tap equals
  /// forward()'s. Layers from the last tapped one up keep no keys in `cache`, so such a cache
  /// serves forward_tap only. Call under c10::InferenceMode.
  void forward_tap(const Tokens& tokens, KvCache& cache, KeyValueTap& tap) const;

  /// Buffers for decode() with a cache of `capacity` positions.
  DecodeWorkspace make_workspace(std::size_t capacity) const;
  /// forward() of one token, writing into `ws` instead of allocating; returns ws.logits
  /// [1, n_vocab]. With `memory`, its layers also attend over the memory (which may
  /// allocate). On the CPU. Call under c10::InferenceMode.
  const at::Tensor& decode(TokenId token, KvCache& cache, DecodeWorkspace& ws,
                           const MemoryReader* memory = nullptr) const;

 private:
  struct Block {
    at::Tensor attn_norm;  // [E]
    Linear qkv;            // E → (H + 2 Hkv) D, with Qwen2's biases
    Linear o;              // H D → E
    at::Tensor ffn_norm;   // [E]
    Linear gate_up;        // E → 2 F
    Linear down;           // F → E
  };

  Transformer() = default;
  /// Embeds `tokens` and runs blocks [0, n_blocks) at positions cache.size()..., writing
  /// their keys and values to `cache` and filling `tap`; with n_blocks < n_layer the last
  /// one stops after its Q/K/V projection (the tap's need). Returns the residual stream
  /// [T, E]. Does not commit the cache.
  at::Tensor run_blocks(const Tokens& tokens, KvCache& cache, KeyValueTap* tap,
                        std::size_t n_blocks) const;
  /// At a layer of `memory`: merges the memory's attention for the step into ws.o, ws.lse.
  void read_memory(const MemoryReader& memory, std::size_t layer, DecodeWorkspace& ws,
                   double scale) const;
  /// Mixes the memory's next-token votes for the step's final state (ws.h) into ws.logits,
  /// which then hold log-probabilities.
  void read_next_token(const MemoryReader& memory, TokenId token, DecodeWorkspace& ws) const;
  static Result<std::shared_ptr<const Transformer>, ModelError> load_weights(
      const Checkpoint& checkpoint, const at::Device& device);

  ModelConfig config_;
  at::Tensor embedding_;    // [V, E]
  at::Tensor shift_;        // [E], or undefined: no token shift
  at::Tensor output_norm_;  // [E]
  Linear output_;           // E → V
  std::vector<Block> blocks_;
  RopeTables rope_;
};

}  // namespace mnemo::model
