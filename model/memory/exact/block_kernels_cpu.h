// CPU entry points of the block kernels beyond block_kernels.h, for ExactTier: scoring into
// a buffer the caller reuses (a decoding step would otherwise allocate, and for large
// memories page-fault in, a fresh [H, B] score tensor every call), scoring the tier's
// tiled representative layout, and the next-token read's distances to stored states.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/util/Half.h>

namespace mnemo::model::memory::cpu {

/// score_blocks(q, representatives) written into `out`: [H, B] float32, contiguous (e.g. a
/// view of a reused buffer). CPU tensors only.
void score_blocks_into(const at::Tensor& q, const at::Tensor& representatives,
                       const at::Tensor& out);

/// The same scores over representatives laid out in tiles of 16 blocks, [Hkv, T, D, 16]
/// contiguous (block b, dimension j of head kv at [kv, b / 16, j, b % 16]): each head is
/// one contiguous stream, which this machine's DRAM serves about twice as fast as the D
/// strided streams of a [Hkv, D, B] buffer (measured 18-22 GB/s against 9-11 at 5M
/// tokens). Blocks n_blocks.. of the last tile are ignored. out: [H, n_blocks].
void score_tiles_into(const at::Tensor& q, const at::Tensor& tiles, std::int64_t n_blocks,
                      const at::Tensor& out);

/// out[i] = 2 q·k_i - |k_i|² for the fp16 rows k_i = rows[i] (each e values), which ranks
/// them as -|q - k_i|² does (|q|² is the same for all): the next-token read's distances,
/// from states where they lie, in one pass per row. q: e floats.
void distance_scores(const float* q, std::int64_t e, const c10::Half* const* rows, std::int64_t n,
                     float* out);

/// |k_i|² of the fp16 rows: a read that scores the same rows at many steps computes their
/// norms once.
void state_norms(std::int64_t e, const c10::Half* const* rows, std::int64_t n, float* out);

/// distance_scores with the rows' norms from state_norms (what the overload above computes
/// from them): the same scores, bit for bit, for half the arithmetic.
void distance_scores(const float* q, std::int64_t e, const c10::Half* const* rows,
                     const float* norms, std::int64_t n, float* out);

}  // namespace mnemo::model::memory::cpu
