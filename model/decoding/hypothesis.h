// Internal to mnemo_decoding: one partial completion (tokens, their bytes through the stop
// rules, log-probabilities), shared by the sampling loop and beam search so that both cut
// tokens and text the same way.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "model/decoding/generation.h"
#include "model/decoding/stop_rules.h"
#include "model/language_model.h"
#include "model/token.h"
#include "model/tokenizer/tokenizer.h"

namespace mnemo::model::detail {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// The logits of the ids the tokenizer knows: a model may pad its vocabulary past them.
inline LogitsView tokenizer_logits(LogitsView logits, const Tokenizer& tokenizer) {
  return LogitsView{logits.data, std::min(logits.size, tokenizer.n_vocab())};
}

/// `view` with `bias`'s additions for a hypothesis that generated `text`: `view` itself
/// when there are none, else a copy in `buffer`.
LogitsView biased_logits(LogitsView view, const LogitBias& bias, std::string_view text,
                         std::vector<float>& buffer,
                         std::vector<std::pair<TokenId, float>>& additions);

/// Copyable (beam search branches it); not thread-safe. `rules` must outlive it.
class Hypothesis {
 public:
  explicit Hypothesis(const StopRules& rules) : checker_(rules) {}

  /// Adds a sampled token and its bytes; returns the stop, if one fired.
  std::optional<StopHit> add(TokenId id, std::string_view piece, double logprob);
  /// Counts a token that ends the generation without joining it (end of generation).
  void add_end_token(double logprob);

  /// Tokens sampled so far, including a counted end token.
  std::size_t n_sampled() const { return n_sampled_; }
  /// Tokens in the sequence (the ones a session holds after the prompt).
  std::size_t n_tokens() const { return tokens_.size(); }
  double logprob() const { return logprob_; }
  const StopChecker& checker() const { return checker_; }

  /// The Generation. When a text rule stopped it, the tokens are cut to the shortest prefix
  /// that covers the text. Timing is left for the caller; score is the logprob.
  Generation finish(StopReason reason) const;

 private:
  Tokens tokens_;
  std::vector<std::size_t> ends_;  ///< text size after each token, before any cut
  std::vector<double> token_logprobs_;
  std::size_t n_sampled_ = 0;
  double logprob_ = 0.0;
  StopChecker checker_;
};

}  // namespace mnemo::model::detail
