// One partial completion (see hypothesis.h).
#include "model/decoding/hypothesis.h"

namespace mnemo::model::detail {

std::optional<StopHit> Hypothesis::add(TokenId id, std::string_view piece, double logprob) {
  tokens_.push_back(id);
  ends_.push_back(checker_.text().size() + piece.size());
  token_logprobs_.push_back(logprob);
  ++n_sampled_;
  logprob_ += logprob;
  return checker_.feed(piece);
}

void Hypothesis::add_end_token(double logprob) {
  ++n_sampled_;
  logprob_ += logprob;
}

Generation Hypothesis::finish(StopReason reason) const {
  Generation generation;
  generation.text = checker_.text();
  // A text rule may have cut the text: keep the tokens that cover it. Otherwise all stay
  // (including ones without bytes, such as a control token the rules did not stop at).
  const bool cut = reason == StopReason::kEndOfLine || reason == StopReason::kBalancedBrackets ||
                   reason == StopReason::kStopString || reason == StopReason::kEndOfIdentifier;
  std::size_t kept = cut ? 0 : tokens_.size();
  while (kept < tokens_.size() && (kept == 0 ? 0 : ends_[kept - 1]) < generation.text.size()) {
    ++kept;
  }
  generation.tokens.assign(tokens_.begin(), tokens_.begin() + static_cast<std::ptrdiff_t>(kept));
  generation.token_logprobs.assign(token_logprobs_.begin(),
                                   token_logprobs_.begin() + static_cast<std::ptrdiff_t>(kept));
  generation.stop_reason = reason;
  generation.logprob = logprob_;
  generation.score = logprob_;
  return generation;
}

LogitsView biased_logits(LogitsView view, const LogitBias& bias, std::string_view text,
                         std::vector<float>& buffer,
                         std::vector<std::pair<TokenId, float>>& additions) {
  if (!bias) return view;
  additions.clear();
  bias(text, additions);
  if (additions.empty()) return view;
  buffer.assign(view.data, view.data + view.size);
  for (const auto& [id, add] : additions) {
    if (id >= 0 && static_cast<std::size_t>(id) < buffer.size())
      buffer[static_cast<std::size_t>(id)] += add;
  }
  return LogitsView{buffer.data(), buffer.size()};
}

}  // namespace mnemo::model::detail
