#include "model/memory/continuous/rbf_basis.h"

#include <ATen/ATen.h>

#include <cmath>
#include <stdexcept>
#include <utility>

namespace mnemo::model::memory::continuous {

namespace {
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
}  // namespace

RbfBasis::RbfBasis(std::int64_t n, std::vector<double> widths) : n_(n) {
  const auto w = static_cast<std::int64_t>(widths.size());
  if (w == 0 || n <= 0 || n % w != 0) {
    throw std::invalid_argument("RbfBasis: N must be a positive multiple of the number of widths");
  }
  for (double s : widths) {
    if (!(s > 0)) throw std::invalid_argument("RbfBasis: widths must be positive");
  }
  const std::int64_t n_centers = n / w;
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  // [C] centers; one center alone sits in the middle of [0, 1].
  const at::Tensor c =
      n_centers == 1 ? at::full({1}, 0.5, f64) : at::linspace(0.0, 1.0, n_centers, f64);
  const at::Tensor s = at::tensor(widths, f64);                          // [W]
  centers_ = c.unsqueeze(1).expand({n_centers, w}).reshape({n});         // [C*W]
  widths_ = s.unsqueeze(0).expand({n_centers, w}).reshape({n}).clone();  // [C*W]
}

at::Tensor RbfBasis::evaluate(const at::Tensor& t) const {
  const at::Tensor z = (t.to(at::kDouble).unsqueeze(-1) - centers_) / widths_;  // [P, N]
  return (z.square() * -0.5).exp() * (kInvSqrt2Pi / widths_);
}

at::Tensor gaussian_basis_integrals(const at::Tensor& mu, const at::Tensor& sigma2,
                                    const at::Tensor& centers, const at::Tensor& widths) {
  const at::Tensor var = sigma2.unsqueeze(-1) + widths.to(mu.scalar_type()).square();  // [..., N]
  const at::Tensor diff = mu.unsqueeze(-1) - centers.to(mu.scalar_type());             // [..., N]
  return (diff.square() / var * -0.5).exp() * kInvSqrt2Pi * var.rsqrt();
}

}  // namespace mnemo::model::memory::continuous
