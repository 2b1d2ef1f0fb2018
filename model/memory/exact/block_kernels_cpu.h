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

}  // namespace mnemo::model::memory::cpu
