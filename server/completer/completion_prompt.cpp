#include "server/completer/completion_prompt.h"

#include <algorithm>

#include "model/decoding/fim_prompt.h"

namespace mnemo::server {
namespace {

/// More bytes than any token of a byte-level BPE vocabulary holds in practice: a window of
/// budget * kBytesPerToken bytes has at least `budget` tokens unless the text ends first.
constexpr std::size_t kBytesPerToken = 16;

std::size_t bytes_of(const model::Tokenizer& tokenizer, const model::Tokens& tokens,
                     std::size_t begin, std::size_t end) {
  std::size_t n = 0;
  for (std::size_t i = begin; i < end; ++i) n += tokenizer.token_bytes(tokens[i]).size();
  return n;
}

/// The last `budget` tokens' worth of `text`, starting at a line start when one is inside.
/// When the budget cuts the text, the start moves on a grid (a power of two of about a
/// quarter of the prefix's bytes): typing leaves it where it was, so the next prompt shares
/// the previous one's cached prefix. The prefix keeps at least three quarters of its bytes,
/// less the line the grid point falls in.
std::string_view tail_within(const model::Tokenizer& tokenizer, std::string_view text,
                             std::size_t budget) {
  if (budget == 0) return {};
  const std::string_view whole = text;
  if (text.size() > budget * kBytesPerToken) {
    text.remove_prefix(text.size() - budget * kBytesPerToken);
    const auto newline = text.find('\n');
    if (newline != std::string_view::npos) text.remove_prefix(newline + 1);
  }
  const model::Tokens tokens = tokenizer.encode(text, false, false);
  std::size_t start = whole.size() - text.size();
  if (tokens.size() > budget)
    start += std::min(text.size(), bytes_of(tokenizer, tokens, 0, tokens.size() - budget));
  if (start == 0) return whole;
  // Up to the grid (only ever later, so the budget still holds), then to a line start.
  std::size_t step = 1;
  while (step * 2 <= (whole.size() - start) / 4) step *= 2;
  const std::size_t snapped = std::min((start + step - 1) / step * step, whole.size());
  const auto newline = whole.find('\n', snapped - 1);
  if (newline != std::string_view::npos && newline + 1 < whole.size())
    return whole.substr(newline + 1);
  return whole.substr(snapped);
}

/// The first `budget` tokens' worth of `text`, ending after a line end when one is inside.
std::string_view head_within(const model::Tokenizer& tokenizer, std::string_view text,
                             std::size_t budget) {
  if (budget == 0) return {};
  if (text.size() > budget * kBytesPerToken) {
    text = text.substr(0, budget * kBytesPerToken);
    const auto newline = text.rfind('\n');
    if (newline != std::string_view::npos) text = text.substr(0, newline + 1);
  }
  const model::Tokens tokens = tokenizer.encode(text, false, false);
  if (tokens.size() <= budget) return text;
  std::string_view cut = text.substr(0, bytes_of(tokenizer, tokens, 0, budget));
  const auto newline = cut.rfind('\n');
  if (newline != std::string_view::npos) cut = cut.substr(0, newline + 1);
  return cut;
}

}  // namespace

CompletionPrompt completion_prompt(const model::Tokenizer& tokenizer, std::string_view text,
                                   std::size_t cursor, const PromptBudget& budget,
                                   std::size_t healed, std::string_view context) {
  cursor = std::min(cursor, text.size());
  healed = std::min(healed, cursor);
  CompletionPrompt out;
  std::size_t prefix_budget = budget.prefix_tokens;
  if (!context.empty()) {
    context = head_within(tokenizer, context, budget.prefix_tokens / 2);
    out.context_tokens = tokenizer.encode(context, false, false).size();
    prefix_budget -= std::min(prefix_budget, out.context_tokens);
  }
  out.prefix = tail_within(tokenizer, text.substr(0, cursor - healed), prefix_budget);
  // The context and the prefix as one text: the tokenizer may join across them.
  std::string joined;
  std::string_view prefix = out.prefix;
  if (!context.empty()) {
    joined.reserve(context.size() + out.prefix.size());
    joined.append(context).append(out.prefix);
    prefix = joined;
  }
  const model::SpecialTokens& special = tokenizer.special();
  if (special.fim_prefix && special.fim_suffix && special.fim_middle) {
    out.suffix = head_within(tokenizer, text.substr(cursor), budget.suffix_tokens);
    auto fim = model::fim_prompt(tokenizer, prefix, out.suffix);
    if (fim) {
      out.tokens = std::move(fim).value();
      out.fill_in_middle = true;
      return out;
    }
  }
  out.suffix = {};
  if (special.add_bos && special.bos) out.tokens.push_back(*special.bos);
  const model::Tokens prefix_tokens = tokenizer.encode(prefix, false, false);
  out.tokens.insert(out.tokens.end(), prefix_tokens.begin(), prefix_tokens.end());
  return out;
}

}  // namespace mnemo::server
