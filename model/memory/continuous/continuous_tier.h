// The ∞-former continuous tier as a memory source (DESIGN.md §2): a fixed-size gist of
// everything streamed into memory, one continuous signal per memory layer, read through
// that layer's ContinuousMemoryModule. Its answer is merged with the local window and the
// exact tier by merge_attention like any other source.
//
// (o, lse) convention. The read is one pseudo-token per head: o = its value (the projected
// context), lse = its logit scale·q·E_p[K(t)] + logit_bias (see ContinuousMemoryModule).
// So merging [local, continuous] gives weights exp(lse_local − lse) and exp(lse_cont − lse):
// the continuous context is one more softmax competitor of the local keys. An empty signal
// returns lse = −inf and o = 0, so merging it changes nothing.
//
// It is trained with mnemo's own model; for foreign pretrained checkpoints (Llama, Qwen2,
// GPT-2) the tier stays off unless the model is fine-tuned with it: an untrained module's
// pseudo-token would inject noise into attention that the checkpoint never learned to use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/memory/continuous/continuous_memory_module.h"
#include "model/memory/continuous/continuous_options.h"
#include "model/memory/continuous/continuous_signal.h"
#include "model/memory/memory_source.h"

namespace mnemo::model::memory::continuous {

/// Thread-safety: attend() may run concurrently with other attend() calls (the sticky-memory
/// histogram it updates is guarded by a mutex); append() needs exclusive access.
class ContinuousTier : public MemorySource {
 public:
  /// One module per memory layer (module i reads layer i's signal); dim: e, the width of the
  /// vectors appended to each layer.
  ContinuousTier(const ContinuousOptions& options, std::int64_t dim,
                 std::vector<ContinuousMemoryModule> modules);

  /// query.q_raw [H, D] (position-free, like the memory), query.scale; the other fields are
  /// unused. Returns o [H, 1, D], lse [H, 1]; records each head's density for sticky memories.
  /// Runs with whatever grad mode the caller set (serving: at::NoGradGuard).
  AttentionOutput attend(const MemoryQuery& query) const override;

  /// Folds x [L, e] into layer `layer`'s signal (see ContinuousSignal::append).
  void append(std::size_t layer, const at::Tensor& x);

  std::size_t n_layers() const { return signals_.size(); }
  const ContinuousSignal& signal(std::size_t layer) const { return signals_.at(layer); }
  const ContinuousMemoryModule& module(std::size_t layer) const { return modules_.at(layer); }

 private:
  std::vector<ContinuousMemoryModule> modules_;
  mutable std::mutex histogram_mutex_;  // guards the histograms inside signals_ during attend
  mutable std::vector<ContinuousSignal> signals_;
};

}  // namespace mnemo::model::memory::continuous
