// Settings of the ∞-former continuous tier (DESIGN.md §2), shared by the signal that stores
// the memory and the module that reads it.
#pragma once

#include <cstdint>
#include <vector>

namespace mnemo::model::memory::continuous {

struct ContinuousOptions {
  std::int64_t n_basis = 256;                  ///< N, a multiple of widths.size()
  std::vector<double> widths = {0.005, 0.01};  ///< RBF widths σ_j; N / W functions each
  double ridge_lambda = 0.5;                   ///< λ of the ridge regression
  /// Fraction of the time axis the old signal is contracted to when new tokens arrive; the
  /// new tokens take [tau, 1].
  double tau = 0.75;
  /// Instead of a fixed tau, give each token the same share of the axis:
  /// tau = old tokens / (old + new tokens), clamped to [tau_min, tau_max].
  bool tau_by_tokens = false;
  double tau_min = 0.5;
  double tau_max = 0.99;
  std::int64_t n_samples = 512;  ///< M, points at which the old signal is resampled
  bool sticky = true;            ///< sample the M points from the attention histogram
  std::int64_t n_histogram_bins = 128;
  double sticky_uniform =
      0.25;  ///< share of the M points spread uniformly (see AttentionHistogram)
};

}  // namespace mnemo::model::memory::continuous
