// The completion engine of `mnemo serve --model` (issue 6): inline suggestions from the
// model reading the repository's memory, menu items and everything else from the engine it
// wraps (the symbolic one), which also answers inline requests while the model cannot (its
// memory not loaded yet, a failure). The model itself is injected as a function, so this
// library and its tests link no LibTorch; `mnemo serve` passes ServeMemory's.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/completion_engine.h"

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

class ModelCompletionEngine final : public CompletionEngine {
 public:
  ModelCompletionEngine(std::shared_ptr<CompletionEngine> fallback, InlineModel model);

  void document_updated(const DocumentView& document) override;
  void document_closed(const std::string& uri) override;
  void index_workspace(const std::vector<std::filesystem::path>& roots, ProgressSink& progress,
                       const lsp::CancellationToken& token) override;
  EngineResult<CompletionList> complete(const CompletionQuery& query,
                                        const lsp::CancellationToken& token) override;
  /// Invoked: up to 3 distinct suggestions; automatic: 1. With a selected menu item, the
  /// model continues the text with that item inserted, and each suggestion replaces the
  /// item's range and starts with its text.
  EngineResult<std::vector<InlineSuggestion>> complete_inline(
      const InlineCompletionQuery& query, const lsp::CancellationToken& token) override;

 private:
  std::shared_ptr<CompletionEngine> fallback_;
  InlineModel model_;
};

}  // namespace mnemo::server
