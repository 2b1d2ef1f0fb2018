#include "model/memory/continuous/ridge_fit.h"

#include <ATen/ATen.h>

namespace mnemo::model::memory::continuous {

at::Tensor uniform_positions(std::int64_t length) {
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  return (at::arange(length, f64) + 0.5) / static_cast<double>(length);
}

at::Tensor ridge_matrix(const RbfBasis& basis, const at::Tensor& positions, double lambda,
                        bool pad) {
  const at::Tensor t = positions.to(at::kDouble).reshape({-1});
  const std::int64_t p = t.size(0);
  const at::Tensor f_real = basis.evaluate(t).t();   // [N, P]
  at::Tensor gram = at::matmul(f_real, f_real.t());  // [N, N]
  const std::int64_t n_pad = pad ? p / 2 : 0;
  if (n_pad > 0) {
    const auto f64 = t.options();
    const at::Tensor offsets = (at::arange(n_pad, f64) + 0.5) / static_cast<double>(p);
    const at::Tensor f_pad = basis.evaluate(at::cat({-offsets, offsets + 1.0})).t();  // [N, 2·pad]
    gram = gram + at::matmul(f_pad, f_pad.t());
  }
  gram.diagonal().add_(lambda);
  // FFᵀ + λI is symmetric positive definite: G = Fᵀ A⁻¹ = (A⁻¹ F)ᵀ by a Cholesky solve.
  const at::Tensor chol = at::linalg_cholesky(gram);
  return at::cholesky_solve(f_real, chol).t().contiguous();  // [P, N]
}

at::Tensor ridge_fit(const RbfBasis& basis, const at::Tensor& positions, const at::Tensor& x,
                     double lambda, bool pad) {
  const at::Tensor g = ridge_matrix(basis, positions, lambda, pad);  // [P, N]
  return at::matmul(g.t(), x.to(at::kDouble));                       // [N, e]
}

at::Tensor reconstruct(const RbfBasis& basis, const at::Tensor& coefficients, const at::Tensor& t) {
  return at::matmul(basis.evaluate(t), coefficients.to(at::kDouble));  // [P, e]
}

}  // namespace mnemo::model::memory::continuous
