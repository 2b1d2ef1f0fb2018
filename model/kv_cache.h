// The keys and values of one token sequence, per layer, in buffers allocated once for the
// session's capacity, so decoding a token writes into them without allocating.
#pragma once

#include <cstddef>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/model_config.h"
#include "model/token.h"

namespace mnemo::model {

/// Single-threaded: one session owns it.
class KvCache {
 public:
  /// Buffers for `capacity` positions per layer, created with `options` (dtype, device).
  KvCache(const ModelConfig& config, std::size_t capacity, const at::TensorOptions& options);

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }

  /// Keys/values of `layer` for positions [0, size() + extra): the cached ones plus
  /// `extra` just written by the forward pass in progress. [n_head_kv, S, head_dim].
  at::Tensor keys(std::size_t layer, std::size_t extra = 0) const;
  at::Tensor values(std::size_t layer, std::size_t extra = 0) const;

  /// The size() tokens the cached positions came from (a model with a token shift reads the
  /// one before a chunk's first).
  const Tokens& tokens() const { return tokens_; }

  /// Writes keys/values [T, n_head_kv, head_dim] of positions size()..size()+T-1 of
  /// `layer`; commit() makes them, and the T tokens they came from, part of the cache once
  /// every layer has written.
  void write(std::size_t layer, const at::Tensor& k, const at::Tensor& v);
  void commit(const TokenId* tokens, std::size_t n_tokens) {
    tokens_.insert(tokens_.end(), tokens, tokens + n_tokens);  // reserved: no allocation
    size_ += n_tokens;
  }

  void truncate(std::size_t n) {
    if (n >= size_) return;
    size_ = n;
    tokens_.resize(n);
  }
  KvCache clone() const;

 private:
  KvCache() = default;
  std::vector<at::Tensor> k_;  // [n_head_kv, head_dim, capacity]: q·kᵀ reads it without a copy
  std::vector<at::Tensor> v_;  // [n_head_kv, capacity, head_dim]
  Tokens tokens_;              // size() of them, capacity reserved
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace mnemo::model
