// The CUDA versions of the block kernels of block_kernels.h, with the same signatures and
// semantics (block_kernels.cu holds the kernels). Every tensor argument must be on the same
// CUDA device; results are on that device and ordered on its current stream. The CPU
// functions of block_kernels.h call these when their inputs are CUDA tensors and the build
// defines MNEMO_WITH_CUDA (the mnemo_memory_cuda library is linked).
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "model/attention.h"

namespace mnemo::model::memory::cuda {

/// scores[h, b] = q[h] · representatives[h / G, b]. q: [H, D] float32; representatives:
/// [Hkv, B, D] (float32, float16 or bfloat16). Returns [H, B] float32.
at::Tensor score_blocks(const at::Tensor& q, const at::Tensor& representatives);

/// The indices of the k highest scores of each row, [H, K] int64 (K = min(k, B)); order
/// within a row is unspecified, and so is which of several equal scores is taken.
at::Tensor top_k_blocks(const at::Tensor& scores, std::int64_t k);

/// Exact softmax attention of each query head over the tokens of its selected blocks.
/// q: [H, D] float32; keys, values: [Hkv, B, C, D] (one dtype: float32/float16/bfloat16,
/// D <= 256); selected: [H, K] int64; valid: [Hkv, B] int32. Returns o: [H, 1, D],
/// lse: [H, 1] float32; a head whose selected blocks hold no token gets o = 0, lse = -inf.
AttentionOutput attend_blocks(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                              const at::Tensor& selected, const at::Tensor& valid);

}  // namespace mnemo::model::memory::cuda
