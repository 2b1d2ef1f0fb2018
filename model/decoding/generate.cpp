// The sampling loop (see generate.h).
#include "model/decoding/generate.h"

#include <string>

#include "model/decoding/decode_error.h"
#include "model/decoding/hypothesis.h"

namespace mnemo::model {

using detail::Clock;
using detail::ms_since;

Result<Generation, ModelError> generate(ModelSession& session, const Tokenizer& tokenizer,
                                        const Tokens& prompt, const GenerationRequest& request,
                                        const CancelCheck& cancelled) {
  const auto start = Clock::now();
  if (prompt.empty()) return ModelError{"generate: the prompt is empty"};
  if (prompt.size() > session.max_tokens()) {
    return ModelError{"generate: the prompt has " + std::to_string(prompt.size()) +
                      " tokens, more than the " + std::to_string(session.max_tokens()) +
                      " positions of the session"};
  }
  if (request.max_tokens == 0) return Generation{};

  if (cancelled && cancelled()) return cancelled_error(0);
  auto logits = session.reset_to(prompt);
  if (!logits) return logits.error();
  GenerationTiming timing;
  timing.prompt_ms = ms_since(start);

  Sampler sampler(request.sampling);
  detail::Hypothesis hypothesis(request.stop);
  std::size_t streamed = 0;
  Tokens token(1);
  StopReason reason = StopReason::kMaxTokens;
  std::vector<float> biased;
  std::vector<std::pair<TokenId, float>> additions;
  for (std::size_t step = 1;; ++step) {
    const LogitsView view =
        detail::biased_logits(detail::tokenizer_logits(logits.value(), tokenizer), request.bias,
                              hypothesis.checker().text(), biased, additions);
    if (view.size == 0) return ModelError{"generate: the model returned no logits"};
    token[0] = sampler.sample(view);
    const double logprob = view[static_cast<std::size_t>(token[0])] - log_sum_exp(view);
    if (request.stop.end_of_generation && tokenizer.is_end_of_generation(token[0])) {
      hypothesis.add_end_token(logprob);
      reason = StopReason::kEndOfGeneration;
      break;
    }
    if (auto hit = hypothesis.add(token[0], tokenizer.decode(token, false), logprob)) {
      reason = hit->reason;
      break;
    }
    if (hypothesis.n_sampled() >= request.max_tokens) {
      reason = StopReason::kMaxTokens;
      break;
    }
    if (session.tokens().size() >= session.max_tokens()) {
      reason = StopReason::kContextFull;
      break;
    }
    if (request.on_text) {
      const std::string& text = hypothesis.checker().text();
      const std::size_t settled = hypothesis.checker().settled_size();
      if (settled > streamed) {
        request.on_text(std::string_view(text).substr(streamed, settled - streamed));
        streamed = settled;
      }
    }

    if (cancelled && cancelled()) return cancelled_error(step);
    const auto forward_start = Clock::now();
    logits = session.append(token);
    if (!logits) return logits.error();
    timing.decode_ms.push_back(ms_since(forward_start));
  }

  Generation generation = hypothesis.finish(reason);
  if (request.on_text && generation.text.size() > streamed) {
    request.on_text(std::string_view(generation.text).substr(streamed));
  }
  timing.total_ms = ms_since(start);
  generation.timing = std::move(timing);
  return generation;
}

}  // namespace mnemo::model
