// The completion engine of `mnemo serve` with a model: inline suggestions from the
// model reading the repository's memory, and the menu of the engine it wraps (the
// compiler's or the identifiers') ranked by the model. The wrapped engine answers inline
// requests while the model cannot (none configured, its memory not loaded yet, a failure).
// The model is injected as functions, so this library and its tests link no LibTorch;
// `mnemo serve` passes ServeMemory's.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/completion/forwarding_completion_engine.h"

namespace mnemo::server {

/// What the model is asked: text (the document, with a menu item the user selected already
/// in it) and the cursor, a byte offset into it.
struct ModelInlineRequest {
  std::filesystem::path file;  ///< the document's path
  std::string text;
  std::size_t cursor = 0;
  std::size_t alternatives = 1;
};

struct ModelSuggestion {
  std::string text;  ///< inserted at the cursor
  double score = 0;
};

using InlineModel = std::function<EngineResult<std::vector<ModelSuggestion>>(
    const ModelInlineRequest&, const lsp::CancellationToken&)>;

/// Menu candidates to be scored by the model: text without what is typed of the name, and
/// the cursor where a candidate would go.
struct ModelRankRequest {
  std::filesystem::path file;
  std::string text;
  std::size_t cursor = 0;
  std::vector<std::string> candidates;
};

/// Each candidate's log-probability at the cursor, in the candidates' order.
using MenuRanker = std::function<EngineResult<std::vector<double>>(const ModelRankRequest&,
                                                                   const lsp::CancellationToken&)>;

struct ModelCompletionOptions {
  /// False when no model is configured: the wrapped engine answers, with no debounce.
  bool enabled = true;
  /// How long an automatic request waits before the model runs: a keystroke within it
  /// supersedes the request (latest wins) before it costs anything. Invoked ones never wait.
  std::chrono::milliseconds debounce{75};
};

/// Menu items come from the wrapped engine (the compiler's or the identifiers'), the first
/// kRankedItems of them ranked by the model when a ranker is given.
class ModelCompletionEngine final : public ForwardingCompletionEngine {
 public:
  /// Menu items the model scores: each costs a forward pass over its tokens.
  static constexpr std::size_t kRankedItems = 16;

  ModelCompletionEngine(std::shared_ptr<CompletionEngine> fallback, InlineModel model,
                        ModelCompletionOptions options = {}, MenuRanker ranker = {});

  /// The wrapped engine's items, the first kRankedItems reordered by the model's
  /// log-probability of each (their score), ahead of the rest in the wrapped engine's order.
  /// Without a model, or when it fails, the wrapped engine's list as it is.
  EngineResult<CompletionList> complete(const CompletionQuery& query,
                                        const lsp::CancellationToken& token) override;

  /// Invoked: up to 3 distinct suggestions; automatic: 1. With a selected menu item, the
  /// model continues the text with that item inserted, and each suggestion replaces the
  /// item's range and starts with its text. When the user has only typed the start of the
  /// document's last suggestions at its cursor, their rest is the answer and the model is
  /// not asked again.
  EngineResult<std::vector<InlineSuggestion>> complete_inline(
      const InlineCompletionQuery& query, const lsp::CancellationToken& token) override;

  /// New options (the session's settings), for the requests that start after it.
  void configure(const ModelCompletionOptions& options);

 private:
  /// The rest of the last answer's suggestions, when `request` is its text with only
  /// characters of them typed at its cursor; empty otherwise.
  std::vector<ModelSuggestion> typed_ahead(const std::string& uri,
                                           const ModelInlineRequest& request) const;

  ModelCompletionOptions options() const;

  InlineModel model_;
  MenuRanker ranker_;
  mutable std::mutex options_mutex_;
  ModelCompletionOptions options_;  ///< guarded by options_mutex_

  struct Answer {
    std::string uri;
    ModelInlineRequest request;
    std::vector<ModelSuggestion> suggestions;
  };
  mutable std::mutex last_mutex_;
  Answer last_;  ///< the model's last answer (guarded by last_mutex_)
};

}  // namespace mnemo::server
