#include "server/completion/model_completion_engine.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "lsp/uri.h"

namespace mnemo::server {

ModelCompletionEngine::ModelCompletionEngine(std::shared_ptr<CompletionEngine> fallback,
                                             InlineModel model, ModelCompletionOptions options,
                                             MenuRanker ranker)
    : ForwardingCompletionEngine(std::move(fallback)),
      model_(std::move(model)),
      ranker_(std::move(ranker)),
      options_(options) {}

EngineResult<CompletionList> ModelCompletionEngine::complete(const CompletionQuery& query,
                                                             const lsp::CancellationToken& token) {
  auto answered = inner().complete(query, token);
  if (!answered || !ranker_ || !options().enabled || answered.value().items.size() < 2)
    return answered;
  const auto file = lsp::file_uri_to_path(query.document.uri);
  if (!file) return answered;
  std::vector<CompletionCandidate>& items = answered.value().items;
  const std::size_t ranked = std::min(kRankedItems, items.size());
  // Every item replaces the typed part of the same name: the model sees the text without it.
  const std::size_t begin = items.front().replace_begin, end = items.front().replace_end;
  const std::string& text = query.document.document->text();
  if (begin > end || end > text.size()) return answered;
  ModelRankRequest request;
  request.file = *file;
  request.text = text.substr(0, begin) + text.substr(end);
  request.cursor = begin;
  for (std::size_t i = 0; i < ranked; ++i) {
    if (items[i].replace_begin != begin || items[i].replace_end != end) return answered;
    request.candidates.push_back(items[i].insert_text);
  }
  auto scores = ranker_(request, token);
  if (!scores) {
    if (scores.error().kind == EngineError::Kind::kCancelled) return scores.error();
    spdlog::debug("menu in the engine's order: {}", scores.error().message);
    return answered;
  }
  if (scores.value().size() != ranked) return answered;
  for (std::size_t i = 0; i < ranked; ++i) items[i].score = scores.value()[i];
  std::stable_sort(
      items.begin(), items.begin() + static_cast<std::ptrdiff_t>(ranked),
      [](const CompletionCandidate& a, const CompletionCandidate& b) { return a.score > b.score; });
  // The rest keep their order below the ranked ones: scores must descend.
  double below = items[ranked - 1].score;
  for (std::size_t i = ranked; i < items.size(); ++i) items[i].score = --below;
  spdlog::debug("menu: the model ranked the first {} of {} items", ranked, items.size());
  return answered;
}

void ModelCompletionEngine::configure(const ModelCompletionOptions& options) {
  const std::lock_guard<std::mutex> lock(options_mutex_);
  options_ = options;
}

ModelCompletionOptions ModelCompletionEngine::options() const {
  const std::lock_guard<std::mutex> lock(options_mutex_);
  return options_;
}

EngineResult<std::vector<InlineSuggestion>> ModelCompletionEngine::complete_inline(
    const InlineCompletionQuery& query, const lsp::CancellationToken& token) {
  const ModelCompletionOptions options = this->options();
  const auto file = lsp::file_uri_to_path(query.document.uri);
  if (!options.enabled || !file) return inner().complete_inline(query, token);
  const std::string& text = query.document.document->text();
  ModelInlineRequest request;
  request.file = *file;
  request.alternatives = query.trigger == InlineTrigger::kInvoked ? 3 : 1;
  std::size_t replace_begin = std::min(query.cursor, text.size());
  std::size_t replace_end = replace_begin;
  std::string lead;  // the selected item's text, which every suggestion starts with
  if (query.selected && query.selected->replace_begin <= query.selected->replace_end &&
      query.selected->replace_end <= text.size()) {
    replace_begin = query.selected->replace_begin;
    replace_end = query.selected->replace_end;
    lead = query.selected->text;
    request.text = text.substr(0, replace_begin) + lead + text.substr(replace_end);
    request.cursor = replace_begin + lead.size();
  } else {
    request.text = text;
    request.cursor = replace_begin;
  }
  std::vector<ModelSuggestion> answer = typed_ahead(query.document.uri, request);
  if (answer.empty()) {
    if (query.trigger == InlineTrigger::kAutomatic && !token.wait_for(options.debounce))
      return EngineError{EngineError::Kind::kCancelled, "superseded while debouncing"};
    auto answered = model_(request, token);
    if (!answered) {
      if (answered.error().kind == EngineError::Kind::kCancelled) return answered.error();
      spdlog::debug("inline completion from the symbols: {}", answered.error().message);
      return inner().complete_inline(query, token);
    }
    answer = std::move(answered).value();
    const std::lock_guard<std::mutex> lock(last_mutex_);
    last_ = {query.document.uri, request, answer};
  }
  std::vector<InlineSuggestion> out;
  for (const ModelSuggestion& s : answer) {
    if (out.size() == request.alternatives) break;
    InlineSuggestion suggestion{lead + s.text, replace_begin, replace_end, s.score};
    const bool seen = std::any_of(out.begin(), out.end(), [&](const InlineSuggestion& o) {
      return o.insert_text == suggestion.insert_text;
    });
    if (!seen && !s.text.empty()) out.push_back(std::move(suggestion));
  }
  return out;
}

std::vector<ModelSuggestion> ModelCompletionEngine::typed_ahead(
    const std::string& uri, const ModelInlineRequest& request) const {
  const std::lock_guard<std::mutex> lock(last_mutex_);
  const ModelInlineRequest& before = last_.request;
  if (last_.uri != uri || request.alternatives > before.alternatives ||
      request.cursor < before.cursor || before.cursor > before.text.size() ||
      request.text.size() != before.text.size() + (request.cursor - before.cursor)) {
    return {};
  }
  const std::string_view now = request.text, then = before.text;
  // The text before the old cursor and after the new one are unchanged: only `typed` went in.
  if (now.substr(0, before.cursor) != then.substr(0, before.cursor) ||
      now.substr(request.cursor) != then.substr(before.cursor)) {
    return {};
  }
  const std::string_view typed = now.substr(before.cursor, request.cursor - before.cursor);
  std::vector<ModelSuggestion> rest;
  for (const ModelSuggestion& s : last_.suggestions) {
    if (s.text.size() > typed.size() && s.text.compare(0, typed.size(), typed) == 0)
      rest.push_back({s.text.substr(typed.size()), s.score});
  }
  return rest;
}

}  // namespace mnemo::server
