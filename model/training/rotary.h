// RoPE in the Hugging Face half-split layout for training code, as differentiable ATen ops:
// x rotated by the positions whose tables (model/rope.h's rope_tables: rotate_half's sign
// folded into sin) are given, broadcast over x's other dimensions.
#pragma once

#include <ATen/ATen.h>

namespace mnemo::model::training {

inline at::Tensor rotate(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const std::int64_t half = x.size(-1) / 2;
  const at::Tensor swapped = at::cat({x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + swapped * sin;
}

}  // namespace mnemo::model::training
