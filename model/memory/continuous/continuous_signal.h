// One memory layer's continuous signal: the coefficients B of X(t) = Bᵀψ(t) that summarize
// every vector streamed into the layer's memory, and the update that folds new vectors in
// (∞-former, arXiv 2109.00301 §3.2–3.3; DESIGN.md §2). The signal's size is N×e whatever
// the number of tokens; older content loses resolution each time the axis is contracted,
// except where the sticky-memory histogram says queries looked.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/memory/continuous/attention_histogram.h"
#include "model/memory/continuous/continuous_options.h"
#include "model/memory/continuous/rbf_basis.h"

namespace mnemo::model::memory::continuous {

/// Thread-safety: none; ContinuousTier serializes access (append exclusive; attend shared,
/// with record_attention under its own mutex).
class ContinuousSignal {
 public:
  /// dim: e, the width of the memory vectors.
  ContinuousSignal(const ContinuousOptions& options, std::int64_t dim);

  bool empty() const { return tokens_ == 0; }
  std::int64_t dim() const { return dim_; }
  /// Vectors folded in so far (the memory's nominal length; its size stays N×e).
  std::int64_t tokens() const { return tokens_; }
  const RbfBasis& basis() const { return basis_; }
  const ContinuousOptions& options() const { return options_; }

  /// Folds x [L, e] in. Empty signal: a ridge fit of x on the uniform grid (i + ½)/L.
  /// Otherwise: the old signal is sampled at M points t_i (from the attention histogram when
  /// sticky, else uniformly), moved to tau·t_i, x is placed on tau + (1 − tau)(j + ½)/L, and
  /// both are refit together (padded, see ridge_fit.h). The histogram is contracted alike.
  /// Returns the tau used (1 for the first fit). `represented_tokens` > 0: x summarizes
  /// that many tokens (e.g. x is their average over consecutive groups), which is what
  /// tokens() and tau_by_tokens count; otherwise x.size(0).
  double append(const at::Tensor& x, std::int64_t represented_tokens = 0);

  /// B: [N, e] float32 (zeros while empty).
  const at::Tensor& coefficients() const { return coefficients_; }
  /// Puts back a signal saved across a restart: coefficients() [N, e], tokens() and
  /// histogram().mass() of a signal with the same options and dim. Throws
  /// std::invalid_argument on shapes that disagree, negative tokens or non-finite values.
  void restore(const at::Tensor& coefficients, std::int64_t tokens,
               const std::vector<double>& histogram_mass);
  /// X(t) = Bᵀψ(t): t [P] → [P, e] float64.
  at::Tensor reconstruct(const at::Tensor& t) const;

  /// Sticky memories: records the attention densities N(mu_h, sigma2_h) of one read
  /// (mu, sigma2: [H] tensors, any float dtype; their values are copied, not their graph).
  void record_attention(const at::Tensor& mu, const at::Tensor& sigma2);
  const AttentionHistogram& histogram() const { return histogram_; }
  /// The M positions (in the old time axis, before contraction) at which the last append
  /// resampled the old signal; empty after the first fit.
  const std::vector<double>& last_sample_positions() const { return last_samples_; }

 private:
  ContinuousOptions options_;
  std::int64_t dim_;
  RbfBasis basis_;
  AttentionHistogram histogram_;
  std::int64_t tokens_ = 0;
  at::Tensor coefficients_;  // [N, e] float32
  std::vector<double> last_samples_;
};

}  // namespace mnemo::model::memory::continuous
