// The first pass of ExactTier's quantized block selection (BlockSelection::kQuantized): the
// int8 score of every block and, in the same pass over the representatives, the candidates
// of an exact top-k. This is the one part of a decoding step whose cost grows with the
// memory, so it reads each representative byte once, keeps the scores in registers (no
// [H, B] score buffer is written and read back) and runs on all threads.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace mnemo::model::memory::cpu {

/// Row h's integer score of block b of key/value head kv = h / (H / Hkv):
///   n(h, b) = Σ_j q[h, j] · tiles[kv, b, j] + Σ_j q_b[h, j] · tiles_b[kv, b, j]
/// (the second sum only when q_b is defined: ExactTier's kMinMax scores q's positive part
/// against the maxima and its negative part against the minima). Its true score lies in
/// scales[kv, b] · (q_scale[h] · n(h, b) ± err[h]).
struct Int8SelectionInput {
  at::Tensor q;  ///< [H, D] int16 contiguous, D even, D <= 512
  /// [Hkv, T, D / 2, 16, 2] int8 contiguous (block b, dimension j at
  /// [kv, b / 16, j / 2, b % 16, j % 2]), |n| <= 127.
  at::Tensor tiles;
  at::Tensor q_b, tiles_b;  ///< optional, shaped as q and tiles
  /// |q[h, j]| + |q_b[h, j]| <= 32767 for every h, j: the int32 sums are then exact.
  std::vector<float> q_scale;  ///< H
  at::Tensor scales;           ///< [Hkv, >= B] float, unit stride along blocks, >= 0
  std::vector<float> err;      ///< H, >= 0
  std::int64_t n_blocks = 0;   ///< B (<= T * 16); lanes past it are ignored
  std::int64_t k = 0;
};

/// Per row, in ascending order, the blocks whose upper bound reaches the k-th largest lower
/// bound of the row: a superset of the row's k best blocks by true score, and every block
/// that could still be one. A block whose bounds are NaN is never a candidate (so a row may
/// come back with fewer than min(k, B)). Throws std::invalid_argument on shapes that
/// disagree. Thread-safety: none needed (reads its input only).
std::vector<std::vector<std::int64_t>> int8_top_k_candidates(const Int8SelectionInput& in);

}  // namespace mnemo::model::memory::cpu
