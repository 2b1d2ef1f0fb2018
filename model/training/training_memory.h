// The long-term memory as mnemo's own model is trained with it: the keys (before
// RoPE) and values that earlier files of the same project left at the memory layers, read
// exactly as the exact tier reads them at inference (model/memory/exact/exact_tier.h), so
// that what the model learns is what it will be served:
//  - files are cut into blocks of C tokens (a file's last block keeps its C slots, the empty
//    ones masked), each represented by the mean of its keys;
//  - each query head scores every block by q_raw · mean (q before RoPE) and takes its top k
//    (in training, a group of query_group consecutive queries may share one choice, by the
//    sum of their scores: the gathered blocks are then read by all of them at once, which is
//    what makes the read affordable on a CPU; the runtime chooses for its one query);
//  - the k blocks are laid out in canonical order (file, then block) at positions 0..kC-1,
//    the query at kC + t: the scores are those of keys just before the window;
//  - the result is (o, lse), merged with the local attention by log-sum-exp.
// No gradient reaches the memory: its keys and values are constants; the query's gradient
// comes from a custom autograd function that gathers the blocks again in its backward pass
// instead of keeping them (they are kC keys per query and head).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/model_config.h"
#include "model/rope.h"

namespace mnemo::model::training {

struct TrainingMemoryConfig {
  std::int64_t n_layers = 2;  ///< memory layers
  std::int64_t n_head = 4, n_head_kv = 2, head_dim = 64;
  std::int64_t block_size = 64;  ///< C
  std::int64_t top_k = 8;        ///< k
  /// Consecutive queries of a window that share their choice of blocks (by their summed
  /// scores), gathered once for all of them; 1 chooses per query as the runtime does (see
  /// the file comment). A window whose length it does not divide chooses per query.
  std::int64_t query_group = 1;
  at::Device device = at::kCPU;  ///< where the memory is kept and read (the model's device)
};

class TrainingMemory {
 public:
  TrainingMemory(TrainingMemoryConfig config, const ModelConfig& model);

  /// Appends one file: keys and values [L, Hkv, n, D] (any float dtype; copied, detached).
  void add_file(const at::Tensor& keys, const at::Tensor& values);
  void clear();
  std::int64_t blocks() const { return blocks_; }
  std::int64_t tokens() const { return tokens_; }
  /// The positions the retrieved blocks take before the window: k_eff · C, where k_eff is
  /// the blocks each query head retrieves (top_k, or all when there are fewer).
  std::int64_t slots() const;

  struct Read {
    at::Tensor o;    ///< [B, T, H, D]
    at::Tensor lse;  ///< [B, T, H]; -inf (and o = 0) when the memory is empty
  };
  /// q_raw: [B, T, H, D] before RoPE (chooses the blocks; no gradient through the choice);
  /// q_rot: the same queries rotated to positions slots() + t (differentiable). `scale`
  /// multiplies q·k.
  Read attend(std::int64_t layer, const at::Tensor& q_raw, const at::Tensor& q_rot,
              double scale) const;
  /// Lays out the files added since the last read (attend() does it first otherwise); after
  /// it, attend() may be called from several threads at once.
  void prepare_read() const;

  /// A reference for tests: the same read by dense gathering, with autograd throughout.
  Read attend_reference(std::int64_t layer, const at::Tensor& q_raw, const at::Tensor& q_rot,
                        double scale) const;

  const TrainingMemoryConfig& config() const { return config_; }

 private:
  /// Per memory layer, per file and concatenated (made when first read): the keys rotated
  /// by their offset c in the block ([Hkv, Nb, C, D]; a query rotated by P − s·C then scores
  /// the key in slot s·C + c as RoPE would), the values, the valid slots [Nb, C] and the
  /// representatives [Hkv, Nb, D] (means of the keys before RoPE).
  struct Layer {
    std::vector<at::Tensor> key_blocks, value_blocks, valid_blocks, reps;
    at::Tensor keys, values, valid, representatives;
  };
  /// Each group's chosen blocks per query head, in canonical order: [B T / group, H, k_eff].
  at::Tensor choose(std::int64_t layer, const at::Tensor& q_raw, std::int64_t group) const;

  TrainingMemoryConfig config_;
  RopeTables offset_rope_;  ///< positions 0..C-1 (a key's offset in its block)
  RopeTables back_rope_;    ///< positions 0, -C, -2C, ... -(k-1)C (a query to its slot)
  mutable std::vector<Layer> layers_;
  mutable bool dirty_ = false;
  std::int64_t blocks_ = 0, tokens_ = 0;
};

}  // namespace mnemo::model::training
