#include "model/rope.h"

#include <ATen/ATen.h>

#include <cmath>

namespace mnemo::model {

std::vector<double> rope_inverse_frequencies(const ModelConfig& c) {
  std::vector<double> inv_freq;
  for (std::size_t i = 0; i < c.head_dim / 2; ++i) {
    double f = std::pow(static_cast<double>(c.rope_theta),
                        -2.0 * static_cast<double>(i) / static_cast<double>(c.head_dim));
    if (!c.rope_freq_factors.empty()) f /= c.rope_freq_factors[i];
    inv_freq.push_back(f);
  }
  return inv_freq;
}

RopeTables rope_tables(const ModelConfig& c, std::int64_t n_pos, const at::TensorOptions& options) {
  std::vector<double> frequencies = rope_inverse_frequencies(c);
  const at::Tensor inv_freq = at::from_blob(
      frequencies.data(), {static_cast<std::int64_t>(frequencies.size())}, at::kDouble);
  const at::Tensor pos = at::arange(n_pos, at::kDouble) * static_cast<double>(c.rope_freq_scale);
  const at::Tensor angles = at::outer(pos, inv_freq);  // [n_pos, D/2]
  return {at::cat({angles.cos(), angles.cos()}, 1).to(options),
          at::cat({-angles.sin(), angles.sin()}, 1).to(options)};
}

at::Tensor apply_rope_reference(const at::Tensor& x, const RopeTables& tables, std::int64_t pos0) {
  const std::int64_t t = x.size(0), d = x.size(2);
  const at::Tensor cos = tables.cos.narrow(0, pos0, t).unsqueeze(1);  // [T, 1, D]
  const at::Tensor sin = tables.sin.narrow(0, pos0, t).unsqueeze(1);
  return at::addcmul(x * cos, at::roll(x, d / 2, -1), sin);
}

namespace {

bool fused(const at::Tensor& x, const RopeTables& tables) {
  return x.is_cpu() && x.scalar_type() == at::kFloat && x.stride(2) == 1 &&
         x.stride(1) == x.size(2) && tables.cos.is_contiguous();
}

/// out: [T, H, D] contiguous.
void rope_rows(const at::Tensor& x, const RopeTables& tables, std::int64_t pos0, at::Tensor& out) {
  const std::int64_t t = x.size(0), h = x.size(1), d = x.size(2), half = d / 2;
  for (std::int64_t i = 0; i < t; ++i) {
    const float* cos = tables.cos.data_ptr<float>() + (pos0 + i) * d;
    const float* sin = tables.sin.data_ptr<float>() + (pos0 + i) * d;
    for (std::int64_t j = 0; j < h; ++j) {
      const float* in = x.data_ptr<float>() + i * x.stride(0) + j * d;
      float* o = out.data_ptr<float>() + (i * h + j) * d;
      for (std::int64_t k = 0; k < half; ++k) {
        o[k] = in[k] * cos[k] + in[k + half] * sin[k];
        o[k + half] = in[k + half] * cos[k + half] + in[k] * sin[k + half];
      }
    }
  }
}

}  // namespace

at::Tensor apply_rope(const at::Tensor& x, const RopeTables& tables, std::int64_t pos0) {
  if (!fused(x, tables)) return apply_rope_reference(x, tables, pos0);
  at::Tensor out = at::empty({x.size(0), x.size(1), x.size(2)}, x.options());
  rope_rows(x, tables, pos0, out);
  return out;
}

void apply_rope_into(const at::Tensor& x, const RopeTables& tables, std::int64_t pos0,
                     at::Tensor& out) {
  if (fused(x, tables) && out.is_contiguous() && out.sizes() == x.sizes()) {
    rope_rows(x, tables, pos0, out);
  } else {
    out.copy_(apply_rope_reference(x, tables, pos0));
  }
}

}  // namespace mnemo::model
