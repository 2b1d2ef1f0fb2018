// Ridge regression of a sequence of vectors onto the RBF basis: the step that turns the
// memory's L input vectors into the N×e coefficients B of a continuous signal X(t) = Bᵀψ(t)
// (∞-former, arXiv 2109.00301 §3.1; DESIGN.md §2).
//
// With F = [ψ(t_1), …, ψ(t_P)] ∈ R^{N×P}, ridge regression gives Bᵀ = Xᵀ G with
// G = Fᵀ(FFᵀ + λI)⁻¹ ∈ R^{P×N}; here B is kept as [N, e], so B = Gᵀ X.
//
// Padding. The fit runs on the P real samples plus zero-valued samples outside [0, 1]: on a
// grid of spacing h = 1/P, ⌊P/2⌋ points at −h/2, −3h/2, … and ⌊P/2⌋ at 1 + h/2, 1 + 3h/2, …,
// so 2P points over [−0.5, 1.5]. For the uniform grid t_i = (i + ½)/L this is exactly the
// reference's "2L points over [−0.5, 1.5], keep the middle L rows of G": the padded rows of
// G multiply zeros in X, so dropping them changes nothing. What padding does: the basis
// functions centred at (or near) 0 and 1 put about half their mass outside [0, 1]; the zero
// targets there make the fit decay to ~0 outside [0, 1] instead of extrapolating freely.
// That matters because a query integrates its Gaussian density over the whole real line
// (gaussian_basis_integrals), so the signal must be ~0 where there is no memory. The price
// is a bias at the edges: the first and last ~2σ (~0.01–0.02 of the axis) are fit as a
// compromise between the data and the zeros beyond, so they reconstruct worse than the
// middle. Measured on sums of sines (L = 1000, N = 256): relative RMS error 4.8e-4 on
// [0.05, 0.95] but 3e-2 over the whole grid; for a constant signal ∫|X| outside [0, 1] drops
// from 2e-2 to 4e-3 with padding (tests/unit/memory_continuous_tests.cpp).
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "model/memory/continuous/rbf_basis.h"

namespace mnemo::model::memory::continuous {

/// The L sample positions (i + ½)/L, i = 0..L−1, as [L] float64.
at::Tensor uniform_positions(std::int64_t length);

/// G restricted to the real samples: [P, N] float64 for positions [P] (in [0, 1], any order).
/// `pad` adds the zero-valued samples described above (they enter FFᵀ, not the result's rows).
at::Tensor ridge_matrix(const RbfBasis& basis, const at::Tensor& positions, double lambda,
                        bool pad = true);

/// B = Gᵀ X: x [P, e] (the values at `positions`) → [N, e] float64.
at::Tensor ridge_fit(const RbfBasis& basis, const at::Tensor& positions, const at::Tensor& x,
                     double lambda, bool pad = true);

/// X(t) = Bᵀψ(t): coefficients [N, e], t [P] → [P, e] float64.
at::Tensor reconstruct(const RbfBasis& basis, const at::Tensor& coefficients, const at::Tensor& t);

}  // namespace mnemo::model::memory::continuous
