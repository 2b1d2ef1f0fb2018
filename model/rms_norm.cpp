#include "model/rms_norm.h"

#include <ATen/ATen.h>

#include <cmath>

namespace mnemo::model {

at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return x * (x.square().mean(-1, /*keepdim=*/true) + eps).rsqrt() * weight;
}

namespace {

bool fused(const at::Tensor& x, const at::Tensor& weight) {
  return x.is_cpu() && x.scalar_type() == at::kFloat && x.dim() == 2 && x.stride(1) == 1 &&
         weight.is_contiguous();
}

/// out: [rows, n] contiguous.
void rms_norm_rows(const at::Tensor& x, const at::Tensor& weight, double eps, at::Tensor& out) {
  const std::int64_t rows = x.size(0), n = x.size(1), stride = x.stride(0);
  const float* w = weight.data_ptr<float>();
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* in = x.data_ptr<float>() + r * stride;
    float* o = out.data_ptr<float>() + r * n;
    // ggml's order exactly (ops.cpp, rms_norm_f32): squares in float, summed in double,
    // the mean and 1/sqrt in float. Quantized matmuls round their activations, so one ulp
    // here can flip a rounding and move a logit of a 30-layer model by a tenth.
    double sum = 0;
    for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(in[i] * in[i]);
    const auto mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + static_cast<float>(eps));
    for (std::int64_t i = 0; i < n; ++i) o[i] = in[i] * scale * w[i];
  }
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if (!fused(x, weight)) return rms_norm_reference(x, weight, eps);
  at::Tensor out = at::empty({x.size(0), x.size(1)}, x.options());
  rms_norm_rows(x, weight, eps, out);
  return out;
}

void rms_norm_into(const at::Tensor& x, const at::Tensor& weight, double eps, at::Tensor& out) {
  if (fused(x, weight) && out.is_contiguous() && out.sizes() == x.sizes()) {
    rms_norm_rows(x, weight, eps, out);
  } else {
    out.copy_(rms_norm_reference(x, weight, eps));
  }
}

}  // namespace mnemo::model
