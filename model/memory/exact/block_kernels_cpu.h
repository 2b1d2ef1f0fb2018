// CPU entry points of the block kernels beyond block_kernels.h, for ExactTier: scoring into
// a buffer the caller reuses (a decoding step would otherwise allocate, and for large
// memories page-fault in, a fresh [H, B] score tensor every call), and scoring the tier's
// tiled representative layout.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

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

/// Integer scores over int8 representatives in tiles of 16 blocks with the dimensions in
/// pairs, [Hkv, T, D / 2, 16, 2] int8 contiguous (block b, dimension j of head kv at
/// [kv, b / 16, j / 2, b % 16, j % 2]; |n| <= 127): out[h, b] = q_scale[h] · Σ_j q[h, j] ·
/// n[kv, b, j], with q: [H, D] int16 (|q| <= 32767) and D even, D <= 512, so that the sum is
/// exact in int32; then one conversion to float and one multiplication. Half the bytes of
/// the fp16 tiles and integer accumulators (AVX2 vpmaddwd, no floating-point latency
/// chain), for a first selection pass whose error the caller bounds. Blocks n_blocks.. of
/// the last tile are ignored. out: [H, n_blocks] float32 contiguous.
void score_int8_tiles_into(const at::Tensor& q, const std::vector<float>& q_scale,
                           const at::Tensor& tiles, std::int64_t n_blocks, const at::Tensor& out);

/// The candidates of an exact top-k from bounded approximate scores. Row h's true score of
/// block b lies in scales[kv, b] · (approx[h, b] ± err[h]) (kv = h / (H / Hkv)); per row this
/// returns, in ascending order, the blocks whose upper bound reaches the k-th largest lower
/// bound: a superset of the row's k best blocks. approx: [H, B] float contiguous; scales:
/// [Hkv, >= B] float with unit stride along blocks; err: H values >= 0. A block whose bounds
/// are NaN is never a candidate (so a row may come back with fewer than k).
std::vector<std::vector<std::int64_t>> bounded_top_k_candidates(const at::Tensor& approx,
                                                                const at::Tensor& scales,
                                                                const std::vector<float>& err,
                                                                std::int64_t k);

}  // namespace mnemo::model::memory::cpu
