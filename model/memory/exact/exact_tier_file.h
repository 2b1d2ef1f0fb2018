// One file of an ExactTier as the tier's sources share it (exact_tier.cpp keeps the
// files, exact_tier_next_token.cpp reads their final states). Private to the tier.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/memory/exact/exact_tier.h"

namespace mnemo::model::memory {

inline std::uint64_t tensor_bytes(const at::Tensor& t) {
  return t.defined() ? static_cast<std::uint64_t>(t.numel()) * t.element_size() : 0;
}

struct ExactTier::File {
  std::string id;
  std::int64_t n_tokens = 0;
  std::int64_t n_blocks = 0;
  /// [L, Hkv, nb, C, D] in the storage dtype (padding tokens zero); undefined when dropped.
  at::Tensor keys, values;
  at::Tensor key_scales, value_scales;  ///< int8 only: [L, Hkv, nb, C] fp16
  /// With next_token_dim: [nb, C, E] fp16 final states and [nb, C] int32 the token after
  /// each (-1 for padding and after the file's last token); undefined when dropped.
  at::Tensor states, next;
  /// Representative slot of each block while resident.
  std::vector<std::int64_t> slots;
  /// Representatives kept aside when the budget dropped the token blocks: [L, Hkv, nb, D]
  /// (and the blocks' state means [nb, E + 1]).
  at::Tensor dropped_a, dropped_b, dropped_state_means;
  std::atomic<std::uint64_t> last_used{0};
  bool dropped() const { return !keys.defined(); }
  std::int64_t valid(std::int64_t block, std::int64_t c) const {
    return std::min(c, n_tokens - block * c);
  }
  std::uint64_t token_bytes() const {
    return tensor_bytes(keys) + tensor_bytes(values) + tensor_bytes(key_scales) +
           tensor_bytes(value_scales) + tensor_bytes(states) + tensor_bytes(next);
  }
};

}  // namespace mnemo::model::memory
