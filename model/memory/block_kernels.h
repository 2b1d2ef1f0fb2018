// The three operations of block-sparse memory attention, as free functions on tensors so
// that a CPU implementation (ATen batched ops) and a CUDA one (block_kernels.cu) can sit
// behind the same calls and be tested against each other. Shapes use: H query heads, G =
// H / Hkv query heads per key/value head, D head dim, B blocks, C tokens per block, K
// selected blocks per head.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "model/attention.h"

namespace mnemo::model::memory {

/// scores[h, b] = q[h] · representatives[h / G, b]. q: [H, D] float32; representatives:
/// [Hkv, B, D] (float32, float16 or bfloat16). Returns [H, B] float32.
at::Tensor score_blocks(const at::Tensor& q, const at::Tensor& representatives);

/// The indices of the k highest scores of each row, [H, K] int64 (K = min(k, B)); order
/// within a row is unspecified.
at::Tensor top_k_blocks(const at::Tensor& scores, std::int64_t k);

/// Exact softmax attention of each query head over the tokens of its selected blocks.
/// q: [H, D] float32 (already rotated and scaled as the caller wants the scores);
/// keys, values: [Hkv, B, C, D] (float32/float16/bfloat16); selected: [H, K] int64;
/// valid: [Hkv, B] int32 tokens used in each block (a file's last block may be partial).
/// Returns o: [H, 1, D], lse: [H, 1] (the AttentionOutput convention, T = 1).
AttentionOutput attend_blocks(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                              const at::Tensor& selected, const at::Tensor& valid);

}  // namespace mnemo::model::memory
