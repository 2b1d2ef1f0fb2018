#include "model/rms_norm.h"

#include <ATen/ATen.h>

#include <cmath>

namespace mnemo::model {

at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return x * (x.square().mean(-1, /*keepdim=*/true) + eps).rsqrt() * weight;
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if (!x.is_cpu() || x.scalar_type() != at::kFloat || x.dim() != 2 || x.stride(1) != 1 ||
      !weight.is_contiguous()) {
    return rms_norm_reference(x, weight, eps);
  }
  const std::int64_t rows = x.size(0), n = x.size(1), stride = x.stride(0);
  at::Tensor out = at::empty({rows, n}, x.options());
  const float* w = weight.data_ptr<float>();
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* in = x.data_ptr<float>() + r * stride;
    float* o = out.data_ptr<float>() + r * n;
    double sum = 0;  // llama.cpp also accumulates the squares in a wider type
    for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(in[i]) * in[i];
    const auto scale = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
    for (std::int64_t i = 0; i < n; ++i) o[i] = in[i] * scale * w[i];
  }
  return out;
}

}  // namespace mnemo::model
