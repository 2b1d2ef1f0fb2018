// Beam search over forked sessions (see beam_search.h).
#include "model/decoding/beam_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "model/decoding/decode_error.h"
#include "model/decoding/hypothesis.h"
#include "model/decoding/sampler.h"

namespace mnemo::model {
namespace {

using detail::Clock;
using detail::Hypothesis;
using detail::ms_since;

struct Beam {
  Hypothesis hypothesis;
  ModelSession* session;                ///< the caller's session or `owned`
  std::unique_ptr<ModelSession> owned;  ///< null for the caller's session
  LogitsView logits;                    ///< after the hypothesis, valid until session's next call
};

/// One proposed extension of a live beam.
struct Proposal {
  std::size_t beam;
  TokenId token;
  double logprob;
  double sum;  ///< the beam's logprob plus this token's
};

/// A hypothesis that stays live, waiting for its session and forward pass.
struct Child {
  std::size_t parent;
  TokenId token;
  Hypothesis hypothesis;
};

/// The `width` best (logit, id) of `logits`, higher logit then lower id first, into `top`.
/// -inf and NaN logits, and those a bias ruled out, are never proposed.
void top_tokens(LogitsView logits, std::size_t width, std::vector<std::pair<float, TokenId>>& top) {
  // `top` is a heap whose front is the worst kept entry.
  auto better = [](const std::pair<float, TokenId>& a, const std::pair<float, TokenId>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  top.clear();
  for (std::size_t i = 0; i < logits.size; ++i) {
    const float logit = logits[i];
    if (!(logit > kRuledOutBelow)) continue;  // ruled out, -inf or NaN
    const std::pair<float, TokenId> entry{logit, static_cast<TokenId>(i)};
    if (top.size() < width) {
      top.push_back(entry);
      std::push_heap(top.begin(), top.end(), better);
    } else if (better(entry, top.front())) {
      std::pop_heap(top.begin(), top.end(), better);
      top.back() = entry;
      std::push_heap(top.begin(), top.end(), better);
    }
  }
  std::sort_heap(top.begin(), top.end(), better);
}

double score(double logprob, std::size_t n_sampled, double length_penalty) {
  if (length_penalty == 0.0 || n_sampled == 0) return logprob;
  return logprob / std::pow(static_cast<double>(n_sampled), length_penalty);
}

/// Adds `generation` to `finished` unless a result with its text is there already; one
/// with a better score replaces it. Keeps `finished` sorted best first, stably.
void collect(Generation generation, std::vector<Generation>& finished) {
  auto same = std::find_if(finished.begin(), finished.end(),
                           [&](const Generation& g) { return g.text == generation.text; });
  if (same != finished.end()) {
    if (same->score >= generation.score) return;
    finished.erase(same);
  }
  auto at = std::upper_bound(
      finished.begin(), finished.end(), generation.score,
      [](double score_value, const Generation& g) { return score_value > g.score; });
  finished.insert(at, std::move(generation));
}

}  // namespace

Result<std::vector<Generation>, ModelError> beam_search(ModelSession& session,
                                                        const Tokenizer& tokenizer,
                                                        const Tokens& prompt,
                                                        const BeamSearchRequest& request,
                                                        const CancelCheck& cancelled) {
  const auto start = Clock::now();
  if (prompt.empty()) return ModelError{"beam_search: the prompt is empty"};
  if (request.beam_width == 0) return ModelError{"beam_search: beam_width must be at least 1"};
  if (!(request.length_penalty >= 0.0)) {
    return ModelError{"beam_search: length_penalty must be at least 0"};
  }
  if (prompt.size() > session.max_tokens()) {
    return ModelError{"beam_search: the prompt has " + std::to_string(prompt.size()) +
                      " tokens, more than the " + std::to_string(session.max_tokens()) +
                      " positions of the session"};
  }
  std::vector<Generation> finished;
  if (request.n_best == 0 || request.max_tokens == 0) return finished;
  const std::size_t width = request.beam_width;
  const double longest = std::pow(static_cast<double>(request.max_tokens), request.length_penalty);

  if (cancelled && cancelled()) return cancelled_error(0);
  auto prompt_logits = session.reset_to(prompt);
  if (!prompt_logits) return prompt_logits.error();
  GenerationTiming timing;
  timing.prompt_ms = ms_since(start);

  std::vector<Beam> live;
  live.push_back(Beam{Hypothesis(request.stop), &session, nullptr, prompt_logits.value()});
  std::vector<std::pair<float, TokenId>> top;
  std::vector<float> biased;
  std::vector<std::pair<TokenId, float>> additions;
  std::vector<Proposal> proposals;
  std::vector<Child> children;
  Tokens token(1);
  for (std::size_t step = 1; !live.empty(); ++step) {
    // Every live beam proposes its W best tokens.
    proposals.clear();
    for (std::size_t b = 0; b < live.size(); ++b) {
      const LogitsView view =
          detail::biased_logits(detail::tokenizer_logits(live[b].logits, tokenizer), request.bias,
                                live[b].hypothesis.checker().text(), biased, additions);
      const double normalizer = log_sum_exp(view);
      top_tokens(view, width, top);
      for (const auto& [logit, id] : top) {
        const double logprob = logit - normalizer;
        proposals.push_back(Proposal{b, id, logprob, live[b].hypothesis.logprob() + logprob});
      }
    }
    std::sort(proposals.begin(), proposals.end(), [](const Proposal& a, const Proposal& b) {
      if (a.sum != b.sum) return a.sum > b.sum;
      if (a.beam != b.beam) return a.beam < b.beam;
      return a.token < b.token;
    });

    // Best first: finished ones are collected, the first W others stay live.
    children.clear();
    for (const Proposal& proposal : proposals) {
      if (children.size() == width) break;
      const Beam& parent = live[proposal.beam];
      Hypothesis hypothesis = parent.hypothesis;
      std::optional<StopReason> reason;
      if (request.stop.end_of_generation && tokenizer.is_end_of_generation(proposal.token)) {
        hypothesis.add_end_token(proposal.logprob);
        reason = StopReason::kEndOfGeneration;
      } else {
        token[0] = proposal.token;
        if (auto hit =
                hypothesis.add(proposal.token, tokenizer.decode(token, false), proposal.logprob)) {
          reason = hit->reason;
        } else if (hypothesis.n_sampled() >= request.max_tokens) {
          reason = StopReason::kMaxTokens;
        } else if (parent.session->tokens().size() >= parent.session->max_tokens()) {
          reason = StopReason::kContextFull;
        }
      }
      if (reason) {
        Generation generation = hypothesis.finish(*reason);
        generation.score =
            score(hypothesis.logprob(), hypothesis.n_sampled(), request.length_penalty);
        collect(std::move(generation), finished);
      } else {
        children.push_back(Child{proposal.beam, proposal.token, std::move(hypothesis)});
      }
    }

    // Stop when no live child can beat the N-th best finished result: log-probabilities
    // only fall, so a child's best possible score is its sum over max_tokens^penalty.
    if (finished.size() >= request.n_best) {
      const double threshold = finished[request.n_best - 1].score;
      const bool hopeless = std::all_of(children.begin(), children.end(), [&](const Child& c) {
        return c.hypothesis.logprob() / longest <= threshold;
      });
      if (hopeless) break;
    }
    if (children.empty()) break;

    // Sessions: the first child of a beam takes the beam's session, the others fork it.
    // All forks happen before any append, while every parent session still holds its beam.
    std::vector<Beam> next;
    next.reserve(children.size());
    std::vector<bool> taken(live.size(), false);
    for (Child& child : children) {
      Beam& parent = live[child.parent];
      Beam beam{std::move(child.hypothesis), parent.session, nullptr, LogitsView{}};
      if (!taken[child.parent]) {
        taken[child.parent] = true;
        beam.owned = std::move(parent.owned);  // parent.session stays valid for the forks
      } else {
        beam.owned = parent.session->fork();
        beam.session = beam.owned.get();
      }
      next.push_back(std::move(beam));
    }

    if (cancelled && cancelled()) return cancelled_error(step);
    const auto forward_start = Clock::now();
    for (std::size_t i = 0; i < next.size(); ++i) {
      token[0] = children[i].token;
      auto logits = next[i].session->append(token);
      if (!logits) return logits.error();
      next[i].logits = logits.value();
    }
    timing.decode_ms.push_back(ms_since(forward_start));
    live = std::move(next);
  }

  if (finished.size() > request.n_best) finished.resize(request.n_best);
  timing.total_ms = ms_since(start);
  for (Generation& generation : finished) generation.timing = timing;
  return finished;
}

}  // namespace mnemo::model
