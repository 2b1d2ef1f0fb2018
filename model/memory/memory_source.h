// What a layer's attention reads besides its local window: a memory source answers one
// decoding step's queries with (o, lse), which merge_attention() combines exactly with the
// local window and with other sources (DESIGN.md §2).
#pragma once

#include <cstddef>
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "model/attention.h"

namespace mnemo::model::memory {

struct MemoryQuery {
  std::size_t layer = 0;  ///< which memory layer (index among the memory layers)
  /// [H, D] the queries before RoPE: block selection is position-free, like the stored keys.
  at::Tensor q_raw;
  /// [H, D] the queries as the local attention uses them (rotated to their position).
  at::Tensor q_rot;
  /// Position of the first token of the local window; retrieved tokens are rotated to the
  /// positions just before it.
  std::int64_t window_start = 0;
  /// Multiplies q·k (usually 1/sqrt(D)).
  double scale = 1.0;
};

/// Thread-safety: attend() may run concurrently with other attend() calls; changing the
/// memory (adding or removing files) needs exclusive access, as each implementation states.
class MemorySource {
 public:
  virtual ~MemorySource() = default;
  /// o: [H, 1, D], lse: [H, 1]. A memory with nothing in it returns lse = -inf and o = 0, so
  /// merging it changes nothing.
  virtual AttentionOutput attend(const MemoryQuery& query) const = 0;
};

}  // namespace mnemo::model::memory
