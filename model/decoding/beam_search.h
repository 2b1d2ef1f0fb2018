// Beam search: the W most probable partial completions advance together, each in its own
// forked session, and the finished ones are ranked. For short completions (a line, a
// block) where the greedy first token can lead down an improbable path.
#pragma once

#include <cstddef>
#include <vector>

#include "model/decoding/generation.h"
#include "model/language_model.h"
#include "model/result.h"
#include "model/token.h"
#include "model/tokenizer/tokenizer.h"

namespace mnemo::model {

struct BeamSearchRequest {
  std::size_t beam_width = 4;   ///< W: hypotheses kept per step (at least 1)
  std::size_t n_best = 1;       ///< N: most results returned
  std::size_t max_tokens = 64;  ///< per hypothesis; a hypothesis that reaches it finishes
  /// The same rules as generate(); a hypothesis stops when one fires.
  StopRules stop;
  /// Finished hypotheses rank by logprob / n^length_penalty, n their sampled tokens: 0 ranks
  /// by the sum of log-probabilities, 1 by the mean; negative values are an error. Live
  /// ones always rank by the sum.
  double length_penalty = 0.0;
  LogitBias bias;  ///< optional, as GenerationRequest::bias (each hypothesis its own text)
};

/// Runs beam search from `prompt` (non-empty). session.reset_to(prompt) computes the prompt
/// once (reusing the session's cached prefix); each further hypothesis gets a fork() of its
/// parent, and the caller's session itself carries one of them, so afterwards it holds the
/// prompt plus some hypothesis. Each step every live hypothesis proposes its W most probable
/// next tokens (ties to the lowest id); of all proposals, best sum first, those that finish
/// (a stop rule, max_tokens, a full context) are collected and the first W that do not stay
/// live. The search ends when no hypothesis is live or none can still beat the N-th best
/// finished one. Returns up to N finished Generations, best score first (equal scores in the
/// order they finished), with distinct texts (the best of each); deterministic.
///
/// `cancelled` (may be empty) is polled before every round of forward passes; when it fires
/// the result is an error for which is_cancelled() holds. Runs on the calling thread.
Result<std::vector<Generation>, ModelError> beam_search(ModelSession& session,
                                                        const Tokenizer& tokenizer,
                                                        const Tokens& prompt,
                                                        const BeamSearchRequest& request,
                                                        const CancelCheck& cancelled = {});

}  // namespace mnemo::model
