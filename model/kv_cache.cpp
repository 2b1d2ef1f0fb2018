#include "model/kv_cache.h"

#include <ATen/ATen.h>

namespace mnemo::model {

KvCache::KvCache(const ModelConfig& config, std::size_t capacity, const at::TensorOptions& options)
    : capacity_(capacity) {
  const auto h = static_cast<std::int64_t>(config.n_head_kv);
  const auto d = static_cast<std::int64_t>(config.head_dim);
  const auto n = static_cast<std::int64_t>(capacity);
  for (std::size_t l = 0; l < config.n_layer; ++l) {
    k_.push_back(at::empty({h, d, n}, options));
    v_.push_back(at::empty({h, n, d}, options));
  }
  tokens_.reserve(capacity);
}

at::Tensor KvCache::keys(std::size_t layer, std::size_t extra) const {
  return k_[layer].narrow(2, 0, static_cast<std::int64_t>(size_ + extra)).transpose(1, 2);
}

at::Tensor KvCache::values(std::size_t layer, std::size_t extra) const {
  return v_[layer].narrow(1, 0, static_cast<std::int64_t>(size_ + extra));
}

void KvCache::write(std::size_t layer, const at::Tensor& k, const at::Tensor& v) {
  const auto pos = static_cast<std::int64_t>(size_);
  k_[layer].narrow(2, pos, k.size(0)).copy_(k.permute({1, 2, 0}));
  v_[layer].narrow(1, pos, v.size(0)).copy_(v.transpose(0, 1));
}

KvCache KvCache::clone() const {
  KvCache copy;
  copy.size_ = size_;
  copy.capacity_ = capacity_;
  copy.tokens_.reserve(capacity_);
  copy.tokens_ = tokens_;
  for (const auto& k : k_) copy.k_.push_back(k.clone());
  for (const auto& v : v_) copy.v_.push_back(v.clone());
  return copy;
}

}  // namespace mnemo::model
