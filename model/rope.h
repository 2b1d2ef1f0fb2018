// Rotary position embedding in the Hugging Face half-split layout: element i of a head pairs
// with element i + D/2. (llama.cpp's adjacent-pair layout is the same rotation on rows that
// convert_hf_to_gguf.py permuted; the GGUF checkpoint un-permutes them.) A fused loop on
// the CPU, ATen ops elsewhere.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/model_config.h"

namespace mnemo::model {

/// theta^(-2i/D) / factor_i for each rotated pair i < D/2, in double: the one place the
/// frequencies are defined (the transformer's tables and the memory's key rotation use it).
std::vector<double> rope_inverse_frequencies(const ModelConfig& config);

/// cos/sin tables for every position up to the model's context, in double precision then
/// rounded: [n_pos, D] each, with rotate_half's sign folded into `sin`.
struct RopeTables {
  at::Tensor cos;
  at::Tensor sin;
};
RopeTables rope_tables(const ModelConfig& config, std::int64_t n_pos,
                       const at::TensorOptions& options);

/// x: [T, H, D] (rows may be strided; each head's D elements contiguous), holding the
/// heads of positions pos0..pos0+T-1. Returns the rotated copy, contiguous.
at::Tensor apply_rope(const at::Tensor& x, const RopeTables& tables, std::int64_t pos0);
/// The same into `out` ([T, H, D], contiguous): no allocation on the CPU path.
void apply_rope_into(const at::Tensor& x, const RopeTables& tables, std::int64_t pos0,
                     at::Tensor& out);
at::Tensor apply_rope_reference(const at::Tensor& x, const RopeTables& tables, std::int64_t pos0);

}  // namespace mnemo::model
