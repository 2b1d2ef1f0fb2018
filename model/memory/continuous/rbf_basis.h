// The basis of the ∞-former continuous memory (DESIGN.md §2, arXiv 2109.00301 §3): N
// Gaussian radial basis functions ψ_j(t) = N(t; μ_j, σ_j²) on the memory's time axis [0, 1].
// A memory signal is X(t) = Bᵀψ(t); a query reads it through a Gaussian attention density
// N(t; μ, σ²), whose integral against each ψ_j has a closed form (gaussian_basis_integrals).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace mnemo::model::memory::continuous {

/// N Gaussian RBFs: N / W centers evenly spaced on [0, 1] (both ends included), each center
/// carrying one function of every width (W = widths.size()), as in the reference code. So
/// with the default widths {0.005, 0.01} half the functions have each width.
/// ψ_j is a normalized density (it integrates to 1 over the real line), so its peak is
/// 1 / (σ_j √(2π)) ≈ 80 for σ_j = 0.005.
/// Thread-safety: immutable after construction.
class RbfBasis {
 public:
  /// n must be a positive multiple of widths.size(); throws std::invalid_argument otherwise.
  explicit RbfBasis(std::int64_t n, std::vector<double> widths = {0.005, 0.01});

  std::int64_t size() const { return n_; }
  /// [N] float64 centers μ_j and widths σ_j (function j = center j / W, width j % W).
  const at::Tensor& centers() const { return centers_; }
  const at::Tensor& widths() const { return widths_; }

  /// ψ at each time: t [P] (any float dtype) → [P, N] float64.
  at::Tensor evaluate(const at::Tensor& t) const;

 private:
  std::int64_t n_;
  at::Tensor centers_;
  at::Tensor widths_;
};

/// The closed form of r_j = ∫_ℝ N(t; μ, σ²) ψ_j(t) dt = N(μ; μ_j, σ² + σ_j²).
/// mu, sigma2: [...] (same shape); centers, widths: [N]. Returns [..., N] in the dtype of mu.
/// Pure ATen ops, so autograd differentiates it (with respect to mu and sigma2).
at::Tensor gaussian_basis_integrals(const at::Tensor& mu, const at::Tensor& sigma2,
                                    const at::Tensor& centers, const at::Tensor& widths);

}  // namespace mnemo::model::memory::continuous
