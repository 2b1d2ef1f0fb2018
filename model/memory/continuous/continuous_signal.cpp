#include "model/memory/continuous/continuous_signal.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <stdexcept>

#include "model/memory/continuous/ridge_fit.h"

namespace mnemo::model::memory::continuous {

ContinuousSignal::ContinuousSignal(const ContinuousOptions& options, std::int64_t dim)
    : options_(options),
      dim_(dim),
      basis_(options.n_basis, options.widths),
      histogram_(options.n_histogram_bins),
      coefficients_(at::zeros({options.n_basis, dim}, at::TensorOptions().dtype(at::kFloat))) {
  if (!(options.tau > 0.0 && options.tau < 1.0)) {
    throw std::invalid_argument("ContinuousSignal: tau must lie in (0, 1)");
  }
  if (options.n_samples <= 0) throw std::invalid_argument("ContinuousSignal: n_samples > 0");
}

double ContinuousSignal::append(const at::Tensor& x, std::int64_t represented_tokens) {
  if (x.dim() != 2 || x.size(1) != dim_) {
    throw std::invalid_argument("ContinuousSignal::append: x must be [L, e]");
  }
  if (x.size(0) == 0) return 1.0;
  // The share of the time axis follows the tokens x stands for (x may be pooled).
  const std::int64_t length = represented_tokens > 0 ? represented_tokens : x.size(0);
  const std::int64_t rows = x.size(0);
  const at::Tensor x64 = x.detach().to(at::kCPU).to(at::kDouble);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  if (empty()) {
    coefficients_ =
        ridge_fit(basis_, uniform_positions(rows), x64, options_.ridge_lambda).to(at::kFloat);
    tokens_ = length;
    last_samples_.clear();
    return 1.0;
  }
  double tau = options_.tau;
  if (options_.tau_by_tokens) {
    tau = std::clamp(static_cast<double>(tokens_) / static_cast<double>(tokens_ + length),
                     options_.tau_min, options_.tau_max);
  }
  const double floor = options_.sticky ? options_.sticky_uniform : 1.0;
  last_samples_ = histogram_.sample(options_.n_samples, floor);
  const at::Tensor old_t = at::tensor(last_samples_, f64);  // [M]
  const at::Tensor old_x = reconstruct(old_t);              // [M, e]
  const at::Tensor new_t = uniform_positions(rows) * (1.0 - tau) + tau;
  const at::Tensor positions = at::cat({old_t * tau, new_t});  // [M + L]
  coefficients_ =
      ridge_fit(basis_, positions, at::cat({old_x, x64}), options_.ridge_lambda).to(at::kFloat);
  histogram_.contract(tau);
  tokens_ += length;
  return tau;
}

at::Tensor ContinuousSignal::reconstruct(const at::Tensor& t) const {
  return continuous::reconstruct(basis_, coefficients_, t);
}

void ContinuousSignal::record_attention(const at::Tensor& mu, const at::Tensor& sigma2) {
  const at::Tensor m = mu.detach().to(at::kCPU).to(at::kDouble).reshape({-1}).contiguous();
  const at::Tensor s = sigma2.detach().to(at::kCPU).to(at::kDouble).reshape({-1}).contiguous();
  const double* mp = m.data_ptr<double>();
  const double* sp = s.data_ptr<double>();
  for (std::int64_t h = 0; h < m.size(0); ++h) histogram_.add(mp[h], sp[h]);
}

void ContinuousSignal::restore(const at::Tensor& coefficients, std::int64_t tokens,
                               const std::vector<double>& histogram_mass) {
  if (coefficients.dim() != 2 || coefficients.size(0) != options_.n_basis ||
      coefficients.size(1) != dim_ || tokens < 0) {
    throw std::invalid_argument("ContinuousSignal::restore: coefficients must be [N, e]");
  }
  const at::Tensor b = coefficients.detach().to(at::kCPU).to(at::kFloat).contiguous();
  if (!at::isfinite(b).all().item<bool>()) {
    throw std::invalid_argument("ContinuousSignal::restore: non-finite coefficients");
  }
  histogram_.restore(histogram_mass);
  coefficients_ = b.clone();
  tokens_ = tokens;
  last_samples_.clear();
}

}  // namespace mnemo::model::memory::continuous
