#include "server/completer/model_completer.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "model/decoding/beam_search.h"
#include "model/decoding/generate.h"
#include "model/decoding/token_healing.h"
#include "model/memory/exact/exact_tier.h"
#include "server/text/identifier_scan.h"

namespace mnemo::server {
namespace {

/// Positions a session keeps beyond the prompt's budgets: the FIM tokens and the
/// suggestion.
constexpr std::size_t kGenerationRoom = 256;
/// The most tokens a name ranked at the cursor may take (beyond the healed bytes').
constexpr std::size_t kMostNameTokens = 16;

/// Takes a file out of the memory for one request and puts it back after: the prompt holds
/// its live text, so its stored (older) segment must not compete with it.
class FileLeftOut {
 public:
  FileLeftOut(model::memory::ExactTier* tier, const std::string& file) : tier_(tier), file_(file) {
    if (tier_ == nullptr || file_.empty() || !tier_->contains(file_)) {
      tier_ = nullptr;
      return;
    }
    tensors_ = tier_->file_tensors(file_);
    tier_->remove_file(file_);
  }
  ~FileLeftOut() {
    if (tier_ != nullptr) tier_->add_file_from_tensors(file_, tensors_);
  }
  FileLeftOut(const FileLeftOut&) = delete;
  FileLeftOut& operator=(const FileLeftOut&) = delete;

 private:
  model::memory::ExactTier* tier_;
  std::string file_;
  std::vector<std::pair<std::string, at::Tensor>> tensors_;
};

/// The identifier `text` begins with after its leading spaces and tabs; empty when it begins
/// with anything else (a bracket, a number) or is blank.
std::string_view leading_name(std::string_view text) {
  const std::size_t begin = std::min(text.find_first_not_of(" \t"), text.size());
  std::size_t end = begin;
  while (end < text.size() && is_identifier_byte(static_cast<unsigned char>(text[end]))) ++end;
  if (end == begin || is_digit_byte(static_cast<unsigned char>(text[begin]))) return {};
  return text.substr(begin, end - begin);
}

/// Where the word (identifier or number bytes) that ends at `cursor` begins.
std::size_t word_start(std::string_view text, std::size_t cursor) {
  while (cursor > 0 && is_identifier_byte(static_cast<unsigned char>(text[cursor - 1]))) --cursor;
  return cursor;
}

/// Where token healing cuts the prompt: before the word at the cursor and the spaces and
/// tabs before it on its line. The tokenizer joins a space to what follows it (" value",
/// " ("), so a prompt ending in "case " ends on a lone space the model rarely saw before a
/// word; cut before it, the model writes " value" as it learned it. A run of blanks keeps
/// all but its last as a token of its own, which the generation writes again just as well.
std::size_t heal_start(std::string_view text, std::size_t word_begin) {
  std::size_t begin = word_begin;
  while (begin > 0 && (text[begin - 1] == ' ' || text[begin - 1] == '\t')) --begin;
  return begin;
}

/// `budget` cut to a model's context: the prompt and the room to generate must fit, and the
/// prefix keeps three quarters of what is left.
PromptBudget fitted(PromptBudget budget, std::size_t context) {
  const std::size_t room = std::min(kGenerationRoom, context / 4);
  const std::size_t prompt = context - room;
  if (budget.prefix_tokens + budget.suffix_tokens <= prompt) return budget;
  budget.prefix_tokens = std::min(budget.prefix_tokens, prompt * 3 / 4);
  budget.suffix_tokens = std::min(budget.suffix_tokens, prompt - budget.prefix_tokens);
  return budget;
}

}  // namespace

model::StopRules inline_stop_rules(std::string_view text, std::size_t cursor) {
  cursor = std::min(cursor, text.size());
  const std::size_t newline = cursor == 0 ? std::string_view::npos : text.rfind('\n', cursor - 1);
  const std::size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
  const std::string_view before = text.substr(line_start, cursor - line_start);
  const bool code_before = std::any_of(before.begin(), before.end(),
                                       [](char c) { return c != ' ' && c != '\t' && c != '\r'; });
  model::StopRules rules;
  rules.end_of_generation = true;
  if (code_before) {
    rules.end_of_line = true;
  } else {
    rules.balanced_brackets = true;
    rules.stop_strings = {"\n\n"};
  }
  return rules;
}

ModelCompleter::ModelCompleter(model::LoadedModel model,
                               std::shared_ptr<indexer::RepositoryMemory> memory,
                               PromptBudget budget)
    : model_(std::move(model)),
      memory_(std::move(memory)),
      budget_(fitted(budget, model_.transformer->max_positions())),
      // The prompt's budgets and room to generate: a whole context's cache would be far
      // larger (SmolLM2: 8,192 positions, 380 MB) for nothing.
      session_(model_.transformer,
               std::min(model_.transformer->max_positions(),
                        budget_.prefix_tokens + budget_.suffix_tokens + kGenerationRoom)) {}

model::Result<CompletionResult, model::ModelError> ModelCompleter::complete(
    const CompletionRequest& request, const model::CancelCheck& cancelled) {
  CompletionResult out;
  const std::size_t cursor = std::min(request.cursor, request.text.size());
  // The typed part of the word at the cursor and the blanks before it, which token healing
  // leaves out of the prompt for the generation to write again. Past kMostHealed bytes the
  // blanks stay in the prompt, and past that many of the word alone nothing is healed: its
  // start is far enough back that its end is no guess.
  constexpr std::size_t kMostHealed = 64;
  const std::size_t word_begin = word_start(request.text, cursor);
  const std::size_t blanks_begin = heal_start(request.text, word_begin);
  const std::size_t healed_bytes = cursor - blanks_begin <= kMostHealed ? cursor - blanks_begin
                                   : cursor - word_begin <= kMostHealed ? cursor - word_begin
                                                                        : 0;
  const CompletionPrompt prompt = completion_prompt(*model_.tokenizer, request.text, cursor,
                                                    budget_, healed_bytes, request.context);
  out.prompt_tokens = prompt.tokens.size();
  out.fill_in_middle = prompt.fill_in_middle;
  if (prompt.tokens.empty() || (request.max_tokens == 0 && !request.names)) return out;
  const std::size_t room = session_.max_tokens() > prompt.tokens.size()
                               ? session_.max_tokens() - prompt.tokens.size()
                               : 0;
  if (room == 0) return model::ModelError{"the prompt fills the model's context"};

  model::memory::ExactTier* tier = memory_ ? memory_->tier.get() : nullptr;
  const FileLeftOut left_out(tier, request.memory_file);
  auto reading = read_memory_without(request.memory_file);
  if (!reading) return reading.error();
  out.read_memory = reading.value();

  // What reset_to() will keep: the prefix shared with the cached sequence, bar the last
  // prompt token, which always runs again for its logits.
  const model::Tokens& cached = session_.tokens();
  const auto shared = static_cast<std::size_t>(
      std::mismatch(cached.begin(), cached.end(), prompt.tokens.begin(), prompt.tokens.end())
          .first -
      cached.begin());
  out.prompt_tokens_cached = std::min(shared, prompt.tokens.size() - 1);
  const model::StopRules stop =
      request.stop ? *request.stop : inline_stop_rules(request.text, cursor);
  const std::size_t prompt_end = cursor - healed_bytes;  // where the prompt's prefix ends
  const std::string_view healed = request.text.substr(prompt_end, healed_bytes);
  // The generation writes the healed bytes again, then the suggestion: tokens for both.
  const std::size_t rewrite =
      healed_bytes > 0 ? model_.tokenizer->encode(healed, false, false).size() : 0;
  const std::size_t max_tokens = std::min(request.max_tokens + rewrite, room);
  // The preference for known identifiers (when asked for), and with it the healed bytes.
  model::LogitBias bias_after_healing;
  std::optional<model::KnownIdentifiers> document_identifiers;
  if (identifiers_ && identifier_boost_ > 0) {
    // The identifier at the cursor starts at most a line before it.
    constexpr std::size_t kBefore = 256;
    const std::size_t from = prompt_end > kBefore ? prompt_end - kBefore : 0;
    // The document's names, but not the one at the cursor: a name being typed is not known.
    std::size_t word_end = cursor;
    while (word_end < request.text.size() &&
           is_identifier_byte(static_cast<unsigned char>(request.text[word_end])))
      ++word_end;
    document_identifiers.emplace(
        model::identifiers_of(std::string(request.text.substr(0, word_begin)) + " " +
                              std::string(request.text.substr(word_end))));
    bias_after_healing = model::identifier_bias(
        token_table(), {identifiers_.get(), &*document_identifiers},
        std::string(request.text.substr(from, prompt_end - from)), identifier_boost_);
  }
  model::LogitBias bias = bias_after_healing;
  if (healed_bytes > 0)
    bias = model::combine(model::require_text(token_table(), std::string(healed)), std::move(bias));
  std::vector<model::Generation> generations;
  const std::string_view typed = request.text.substr(word_begin, cursor - word_begin);
  const bool held = request.names && !request.names->empty() && healed.size() >= typed.size() &&
                    (typed.empty() || (!is_digit_byte(static_cast<unsigned char>(typed[0])) &&
                                       request.names->has_prefix(typed)));
  // The healed bytes written again, then the first identifier held to the names.
  const model::LogitBias held_start =
      held ? model::combine(model::require_text(token_table(), std::string(healed)),
                            model::name_constraint(token_table(), *request.names, request.slot))
           : model::LogitBias{};
  // One generation of the suggestion under `first` (the bias until its start is written).
  const auto write = [&](model::LogitBias first) -> model::Result<bool, model::ModelError> {
    model::GenerationRequest g;
    g.max_tokens = max_tokens;
    g.stop = stop;
    g.bias = model::combine(std::move(first), bias_after_healing);
    auto generated = model::generate(session_, *model_.tokenizer, prompt.tokens, g, cancelled);
    if (!generated) return generated.error();
    generations.push_back(std::move(generated).value());
    return true;
  };
  if (held && request.alternatives <= 1 && request.ranked_names <= 1 && request.max_tokens > 0) {
    // One suggestion and no ranking asked for (an automatic inline request): one held
    // greedy generation, its first identifier the ranked name.
    if (auto written = write(held_start); !written) return written.error();
    const std::string_view name = leading_name(generations.back().text);
    if (!name.empty() && request.names->contains(name))
      out.names.push_back({std::string(name), generations.back().score});
  } else if (held) {
    // The names, ranked as if one must be written (the menu's order).
    model::NameSlot ranking = request.slot;
    ranking.required = true;
    auto ranked = rank_names(prompt.tokens, std::string(healed), *request.names, ranking,
                             std::max(request.ranked_names, request.alternatives),
                             rewrite + kMostNameTokens, cancelled);
    if (!ranked) return ranked.error();
    out.names = std::move(ranked).value();
    if (request.max_tokens == 0) return out;  // the names ranked, nothing written
    // Where no name has to be written, the model may begin with something else (a bracket, a
    // literal): its first choice under the held names tells.
    bool begins_with_name = request.slot.required || !typed.empty() || out.names.empty();
    if (!begins_with_name) {
      model::GenerationRequest first;
      first.max_tokens = 1;
      first.bias = held_start;
      auto chosen = model::generate(session_, *model_.tokenizer, prompt.tokens, first, cancelled);
      if (!chosen) return chosen.error();
      const std::string& text = chosen.value().text;
      begins_with_name =
          text.find_first_not_of(" \t") == std::string::npos || !leading_name(text).empty();
    }
    if (!begins_with_name) {
      if (auto written = write(held_start); !written) return written.error();
    }
    // The blanks healing left out, which every suggestion writes again before its name.
    const std::string blanks(healed.substr(0, healed.size() - typed.size()));
    for (const RankedName& name : out.names) {
      if (generations.size() == request.alternatives) break;
      if (auto written = write(model::require_name(token_table(), blanks + name.name)); !written)
        return written.error();
    }
  }
  if (generations.empty() && request.alternatives <= 1) {
    model::GenerationRequest g;
    g.max_tokens = max_tokens;
    g.stop = stop;
    g.bias = bias;
    auto generated = model::generate(session_, *model_.tokenizer, prompt.tokens, g, cancelled);
    if (!generated) return generated.error();
    generations.push_back(std::move(generated).value());
  } else if (generations.empty()) {
    model::BeamSearchRequest b;
    b.beam_width = std::max<std::size_t>(request.alternatives, 2);
    b.n_best = request.alternatives;
    b.max_tokens = max_tokens;
    b.stop = stop;
    b.bias = bias;
    auto searched = model::beam_search(session_, *model_.tokenizer, prompt.tokens, b, cancelled);
    if (!searched) return searched.error();
    generations = std::move(searched).value();
  }
  for (model::Generation& g : generations) {
    // The healed bytes are in the document already: the suggestion is what follows them. A
    // generation cut before it wrote all of them suggests nothing.
    if (g.text.compare(0, healed.size(), healed) != 0) continue;
    g.text.erase(0, healed.size());
    if (g.text.empty()) continue;
    const bool seen = std::any_of(out.suggestions.begin(), out.suggestions.end(),
                                  [&](const Suggestion& s) { return s.text == g.text; });
    if (!seen) out.suggestions.push_back({std::move(g.text), g.score});
  }
  return out;
}

void ModelCompleter::set_identifiers(std::shared_ptr<const model::KnownIdentifiers> repository,
                                     float boost) {
  identifiers_ = std::move(repository);
  identifier_boost_ = boost;
}

void ModelCompleter::set_next_token_weight(float weight) {
  next_token_weight_ = weight;
}

const model::TokenIdentifierTable& ModelCompleter::token_table() {
  if (!token_table_)
    token_table_ = std::make_unique<model::TokenIdentifierTable>(*model_.tokenizer);
  return *token_table_;
}

model::Result<bool, model::ModelError> ModelCompleter::read_memory_without(
    const std::string& memory_file) {
  model::memory::ExactTier* tier = memory_ ? memory_->tier.get() : nullptr;
  // Sixteen generated tokens read the blocks the first of them chose: the groups of
  // consecutive queries mnemo's model is trained with, and at 5M memory tokens choosing at
  // every step cost more than the rest of the memory's read.
  constexpr std::size_t kTokensPerMemoryChoice = 16;
  if (auto set = session_.set_memory(tier != nullptr ? model::MemoryReader{memory_->layers, tier,
                                                                           kTokensPerMemoryChoice,
                                                                           next_token_weight_}
                                                     : model::MemoryReader{});
      !set) {
    return set.error();
  }
  // Positions that read the memory while another file was left out saw another memory:
  // the cache is reused only under the same one.
  if (tier != nullptr && memory_file != memory_file_) session_.truncate(0);
  memory_file_ = memory_file;
  return tier != nullptr;
}

model::Result<std::vector<RankedName>, model::ModelError> ModelCompleter::rank_names(
    const model::Tokens& prompt, const std::string& healed, const model::NameSet& names,
    const model::NameSlot& slot, std::size_t width, std::size_t max_tokens,
    const model::CancelCheck& cancelled) {
  model::BeamSearchRequest b;
  b.beam_width = std::max<std::size_t>(width, 1);
  b.n_best = b.beam_width;
  b.max_tokens =
      std::min(max_tokens, session_.max_tokens() - std::min(session_.max_tokens(), prompt.size()));
  b.stop.end_of_identifier = true;
  b.stop.end_of_generation = true;
  b.bias = model::combine(
      healed.empty() ? model::LogitBias{} : model::require_text(token_table(), healed),
      model::name_constraint(token_table(), names, slot));
  auto searched = model::beam_search(session_, *model_.tokenizer, prompt, b, cancelled);
  if (!searched) return searched.error();
  std::vector<RankedName> ranked;
  for (const model::Generation& g : searched.value()) {
    if (g.text.compare(0, healed.size(), healed) != 0) continue;  // cut before the healed bytes
    std::string name(leading_name(g.text));
    // A name cut by the token limit, or one the held search could not finish, is no name.
    if (name.empty() || !names.contains(name)) continue;
    const bool seen = std::any_of(ranked.begin(), ranked.end(),
                                  [&](const RankedName& r) { return r.name == name; });
    if (!seen) ranked.push_back({std::move(name), g.score});
  }
  return ranked;
}

}  // namespace mnemo::server
