// ModelSession over the LibTorch Transformer: one token sequence, its KV cache, and the
// logits of its last position.
#pragma once

#include <memory>

#include <ATen/core/Tensor.h>

#include "model/kv_cache.h"
#include "model/language_model.h"
#include "model/transformer.h"

namespace mnemo::model {

/// Single-threaded: one caller at a time (the model itself may be shared by many sessions).
class TransformerSession final : public ModelSession {
 public:
  /// `capacity`: the most tokens the sequence may hold (at most the model's context).
  TransformerSession(std::shared_ptr<const Transformer> model, std::size_t capacity);

  const Tokens& tokens() const override { return cache_.tokens(); }
  Result<LogitsView, ModelError> append(const Tokens& tokens) override;
  Result<LogitsView, ModelError> reset_to(const Tokens& tokens) override;
  void truncate(std::size_t n) override;
  std::unique_ptr<ModelSession> fork() const override;
  std::size_t n_vocab() const override { return model_->config().n_vocab; }
  std::size_t max_tokens() const override { return cache_.capacity(); }

  /// Reads `memory` from now on (model/transformer.h), or nothing with an empty reader: the
  /// last token of every append() and reset_to() (whose logits predict what comes next)
  /// attends over it at the reader's layers; the tokens before it in the same call do not.
  /// The source must outlive the session and its forks. Fails on a model off the CPU.
  /// With memory.tokens_per_choice > 1, a choice is kept across appends until that many
  /// steps have read it or the sequence is truncated (reset_to() to another text included).
  Result<bool, ModelError> set_memory(MemoryReader memory);

  /// Logits of every appended token, [T, n_vocab] on the model's device (for tests and
  /// evaluation, which score whole sequences).
  Result<at::Tensor, ModelError> append_all_logits(const Tokens& tokens);

  /// Tokens run through the model since the session began: shows how much prefix reuse saved.
  std::size_t n_evaluated() const { return n_evaluated_; }

 private:
  TransformerSession(const TransformerSession& other);
  Result<at::Tensor, ModelError> run(const Tokens& tokens, bool all_logits);
  /// The next step that reads the memory chooses anew.
  void forget_memory_choices();

  std::shared_ptr<const Transformer> model_;
  KvCache cache_;
  DecodeWorkspace workspace_;  // single-token steps on the CPU write here
  MemoryReader memory_;
  at::Tensor last_logits_;  // [n_vocab] float32 on the CPU; valid while !logits_stale_
  bool logits_stale_ = true;
  std::size_t n_evaluated_ = 0;
  std::size_t steps_on_choice_ = 0;  // decoding steps since the memory last chose
};

}  // namespace mnemo::model
