// Picks the next token from one position's logits: greedy, temperature, top-k and top-p
// (nucleus), reproducible from a seed. A Sampler keeps its candidate buffer between calls
// so that a decode step allocates nothing once the buffer has grown to the vocabulary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "model/language_model.h"
#include "model/token.h"

namespace mnemo::model {

/// How to sample. The stages run in this order (as in Hugging Face's logits warpers):
/// temperature, then top-k, then top-p, then a draw from what is left, renormalized.
struct SamplingParams {
  /// 0 (or less) is greedy: the argmax, ties to the lowest id; no random number is drawn.
  float temperature = 0.0f;
  /// Keep only the k highest logits (ties to the lowest ids); 0 keeps all. 1 is greedy.
  std::size_t top_k = 0;
  /// Keep the smallest set of most probable tokens whose probabilities sum to at least
  /// top_p (always at least one token); 1 (or more) keeps all.
  float top_p = 1.0f;
  /// Seeds the std::mt19937_64; equal seeds and logits give equal draws on every platform.
  std::uint64_t seed = 0;
};

/// The index of the highest logit, the lowest such index on ties; NaN counts as -inf.
/// Precondition: logits.size > 0.
TokenId argmax(LogitsView logits);

/// log(sum(exp(logits))), computed stably; NaN entries are skipped. -inf when every entry
/// is -inf. logits[i] - log_sum_exp(logits) is token i's log-probability.
double log_sum_exp(LogitsView logits);

/// Draws tokens according to SamplingParams. Not thread-safe: one Sampler per decoding
/// loop; it holds the random state and a scratch buffer of n_vocab candidates.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params = {});

  /// The next token. Precondition: logits.size > 0. Entries that are -inf or NaN are never
  /// drawn unless every entry is (then the result is argmax). The view is only read.
  TokenId sample(LogitsView logits);

  /// Restarts the random sequence, as if constructed with `seed`.
  void reseed(std::uint64_t seed);

  const SamplingParams& params() const { return params_; }

 private:
  struct Candidate {
    TokenId id;
    float logit;  ///< after temperature, shifted so that the maximum is 0
    float prob;   ///< exp(logit), unnormalized
  };

  /// A uniform double in [0, 1) from 53 bits of the generator (portable, unlike
  /// std::uniform_real_distribution).
  double uniform01();

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<Candidate> candidates_;  // scratch, reused between calls
};

}  // namespace mnemo::model
