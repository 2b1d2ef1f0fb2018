// Sampling stages over a reused candidate buffer (see sampler.h).
#include "model/decoding/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mnemo::model {
namespace {

/// Orders candidates best first: higher logit, then lower id, so ties are deterministic.
template <class C>
bool better(const C& a, const C& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

float sanitize(float logit) {
  return std::isnan(logit) ? -std::numeric_limits<float>::infinity() : logit;
}

}  // namespace

TokenId argmax(LogitsView logits) {
  std::size_t best = 0;
  float best_logit = sanitize(logits[0]);
  for (std::size_t i = 1; i < logits.size; ++i) {
    float logit = sanitize(logits[i]);
    if (logit > best_logit) {
      best = i;
      best_logit = logit;
    }
  }
  return static_cast<TokenId>(best);
}

double log_sum_exp(LogitsView logits) {
  double max = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < logits.size; ++i) {
    if (!std::isnan(logits[i])) max = std::max(max, static_cast<double>(logits[i]));
  }
  if (!std::isfinite(max)) return max;
  double sum = 0.0;
  for (std::size_t i = 0; i < logits.size; ++i) {
    if (!std::isnan(logits[i])) sum += std::exp(static_cast<double>(logits[i]) - max);
  }
  return max + std::log(sum);
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

void Sampler::reseed(std::uint64_t seed) {
  params_.seed = seed;
  rng_.seed(seed);
}

double Sampler::uniform01() {
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

TokenId Sampler::sample(LogitsView logits) {
  const std::size_t n = logits.size;
  if (!(params_.temperature > 0.0f) || params_.top_k == 1) return argmax(logits);

  // Temperature: logits / T, shifted so that the maximum is 0 (exp never overflows).
  float max = -std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < n; ++i) max = std::max(max, sanitize(logits[i]));
  if (!std::isfinite(max)) return argmax(logits);
  candidates_.resize(n);  // allocates only when the vocabulary grows
  for (std::size_t i = 0; i < n; ++i) {
    float scaled = (sanitize(logits[i]) - max) / params_.temperature;
    if (std::isnan(scaled)) scaled = -std::numeric_limits<float>::infinity();
    candidates_[i] = Candidate{static_cast<TokenId>(i), scaled, std::exp(scaled)};
  }
  auto first = candidates_.begin();
  auto by_rank = [](const Candidate& a, const Candidate& b) { return better(a, b); };

  // Top-k: [0, k) holds the k best, unordered.
  std::size_t kept = n;
  if (params_.top_k > 0 && params_.top_k < n) {
    kept = params_.top_k;
    std::nth_element(first, first + static_cast<std::ptrdiff_t>(kept), candidates_.end(), by_rank);
  }
  double total = 0.0;
  for (std::size_t i = 0; i < kept; ++i) total += candidates_[i].prob;

  // Top-p: sort a growing prefix of [0, kept) until it holds top_p of the mass. Each
  // partial_sort of the unsorted rest extends the sorted prefix, so a peaked distribution
  // sorts only a few candidates instead of the whole vocabulary.
  if (params_.top_p < 1.0f) {
    const double target = static_cast<double>(params_.top_p) * total;
    auto end = first + static_cast<std::ptrdiff_t>(kept);
    std::size_t sorted = 0;
    std::size_t taken = 0;
    double mass = 0.0;
    while (taken < kept) {
      if (taken == sorted) {
        std::size_t grow = std::min(kept, std::max<std::size_t>(2 * sorted, 32));
        std::partial_sort(first + static_cast<std::ptrdiff_t>(sorted),
                          first + static_cast<std::ptrdiff_t>(grow), end, by_rank);
        sorted = grow;
      }
      mass += candidates_[taken].prob;
      ++taken;
      if (mass >= target) break;
    }
    kept = taken;
    total = mass;
  }

  // Draw from [0, kept), renormalized.
  const double u = uniform01() * total;
  double acc = 0.0;
  std::size_t last_possible = 0;
  for (std::size_t i = 0; i < kept; ++i) {
    if (candidates_[i].prob <= 0.0f) continue;
    acc += candidates_[i].prob;
    last_possible = i;
    if (u < acc) return candidates_[i].id;
  }
  return candidates_[last_possible].id;  // rounding left u at the very top
}

}  // namespace mnemo::model
