#include "model/memory/continuous/attention_histogram.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <utility>

namespace mnemo::model::memory::continuous {

namespace {

double normal_cdf(double z) {
  return 0.5 * std::erfc(-z / std::sqrt(2.0));
}

/// CDF at x in [0, 1] of the piecewise-constant density with the given bin masses
/// (unnormalized).
double histogram_cdf(const std::vector<double>& mass, double x) {
  const auto n = static_cast<double>(mass.size());
  const double pos = std::clamp(x, 0.0, 1.0) * n;
  const auto full = static_cast<std::size_t>(std::min(std::floor(pos), n));
  double c = std::accumulate(mass.begin(), mass.begin() + static_cast<std::ptrdiff_t>(full), 0.0);
  if (full < mass.size()) c += mass[full] * (pos - static_cast<double>(full));
  return c;
}

}  // namespace

AttentionHistogram::AttentionHistogram(std::int64_t n_bins) {
  if (n_bins <= 0) throw std::invalid_argument("AttentionHistogram: n_bins must be positive");
  mass_.assign(static_cast<std::size_t>(n_bins), 0.0);
}

double AttentionHistogram::total() const {
  return std::accumulate(mass_.begin(), mass_.end(), 0.0);
}

void AttentionHistogram::add(double mu, double sigma2, double weight) {
  const double sigma = std::sqrt(std::max(sigma2, 1e-300));
  const auto n = static_cast<double>(mass_.size());
  double previous = normal_cdf((0.0 - mu) / sigma);
  for (std::size_t b = 0; b < mass_.size(); ++b) {
    const double next = normal_cdf((static_cast<double>(b + 1) / n - mu) / sigma);
    mass_[b] += weight * (next - previous);
    previous = next;
  }
}

void AttentionHistogram::contract(double tau) {
  if (!(tau > 0.0 && tau <= 1.0)) throw std::invalid_argument("AttentionHistogram: tau in (0, 1]");
  const auto n = static_cast<double>(mass_.size());
  std::vector<double> contracted(mass_.size(), 0.0);
  // New bin b covers [b/n, (b+1)/n], which held the old mass on [b/(n·tau), (b+1)/(n·tau)].
  double previous = 0.0;
  for (std::size_t b = 0; b < mass_.size(); ++b) {
    const double next = histogram_cdf(mass_, static_cast<double>(b + 1) / (n * tau));
    contracted[b] = next - previous;
    previous = next;
  }
  mass_ = std::move(contracted);
}

void AttentionHistogram::clear() {
  std::fill(mass_.begin(), mass_.end(), 0.0);
}

std::vector<double> AttentionHistogram::sample(std::int64_t m, double uniform_floor) const {
  std::vector<double> positions;
  if (m <= 0) return positions;
  positions.reserve(static_cast<std::size_t>(m));
  const double sum = total();
  const double u = sum > 0.0 ? std::clamp(uniform_floor, 0.0, 1.0) : 1.0;
  const auto n = static_cast<double>(mass_.size());
  // Normalized bin probabilities and their cumulative sums.
  std::vector<double> cdf(mass_.size() + 1, 0.0);
  for (std::size_t b = 0; b < mass_.size(); ++b) {
    const double p = (sum > 0.0 ? (1.0 - u) * mass_[b] / sum : 0.0) + u / n;
    cdf[b + 1] = cdf[b] + p;
  }
  std::size_t b = 0;
  for (std::int64_t k = 0; k < m; ++k) {
    const double q = (static_cast<double>(k) + 0.5) / static_cast<double>(m) * cdf.back();
    while (b + 1 < mass_.size() && cdf[b + 1] < q) ++b;
    const double width = cdf[b + 1] - cdf[b];
    const double within = width > 0.0 ? (q - cdf[b]) / width : 0.5;
    positions.push_back((static_cast<double>(b) + std::clamp(within, 0.0, 1.0)) / n);
  }
  return positions;
}

void AttentionHistogram::restore(const std::vector<double>& mass) {
  if (mass.size() != mass_.size()) {
    throw std::invalid_argument("AttentionHistogram::restore: another number of bins");
  }
  for (const double m : mass) {
    if (!(m >= 0.0) || !std::isfinite(m)) {
      throw std::invalid_argument("AttentionHistogram::restore: a negative or non-finite mass");
    }
  }
  mass_ = mass;
}

}  // namespace mnemo::model::memory::continuous
