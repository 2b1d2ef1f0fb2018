// Sticky memories (∞-former, arXiv 2109.00301 §3.3): a histogram over the memory's time axis
// [0, 1] of where past queries put their attention density. When new tokens arrive, the old
// signal is resampled at points drawn from this histogram instead of uniformly, so regions
// that queries read keep their resolution after the contraction.
#pragma once

#include <cstdint>
#include <vector>

namespace mnemo::model::memory::continuous {

/// Bins of equal width on [0, 1], holding attention mass.
/// Thread-safety: none; the owner serializes access (ContinuousTier holds a mutex).
class AttentionHistogram {
 public:
  explicit AttentionHistogram(std::int64_t n_bins = 128);

  std::int64_t n_bins() const { return static_cast<std::int64_t>(mass_.size()); }
  const std::vector<double>& mass() const { return mass_; }
  double total() const;

  /// Adds `weight` times the mass that N(t; mu, sigma2) puts in each bin (the part of the
  /// density outside [0, 1] is dropped, as there is no memory there).
  void add(double mu, double sigma2, double weight = 1.0);

  /// The time axis is contracted: what was at t moves to tau·t (tau in (0, 1]), and
  /// [tau, 1] (the new tokens) has no attention yet. Total mass is kept.
  void contract(double tau);

  void clear();
  /// Puts back masses from mass() of a histogram with as many bins (a restart); throws
  /// std::invalid_argument on another count or a negative or non-finite mass.
  void restore(const std::vector<double>& mass);

  /// m positions in [0, 1], ascending: the inverse CDF of the density
  /// p = (1 − u)·histogram/total + u·uniform at the stratified quantiles (k + ½)/m. The
  /// uniform floor u in [0, 1] keeps every region sampled a little, so a never-read region
  /// fades instead of vanishing; an empty histogram samples uniformly ((k + ½)/m).
  /// Deterministic (stratified quantiles rather than random draws), so refits are
  /// reproducible.
  std::vector<double> sample(std::int64_t m, double uniform_floor) const;

 private:
  std::vector<double> mass_;
};

}  // namespace mnemo::model::memory::continuous
