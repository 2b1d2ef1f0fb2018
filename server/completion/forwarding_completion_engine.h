// A CompletionEngine that hands every call to another one: the base of the decorators
// (DelayedCompletionEngine, ModelCompletionEngine), which override only what they change.
#pragma once

#include <memory>
#include <utility>

#include "server/completion/completion_engine.h"

namespace mnemo::server {

/// Thread-safety: as the wrapped engine.
class ForwardingCompletionEngine : public CompletionEngine {
 public:
  explicit ForwardingCompletionEngine(std::shared_ptr<CompletionEngine> inner)
      : inner_(std::move(inner)) {}

  void document_updated(const DocumentView& document) override {
    inner_->document_updated(document);
  }
  void document_closed(const std::string& uri) override { inner_->document_closed(uri); }
  void index_workspace(const std::vector<std::filesystem::path>& roots, ProgressSink& progress,
                       const lsp::CancellationToken& token) override {
    inner_->index_workspace(roots, progress, token);
  }
  EngineResult<CompletionList> complete(const CompletionQuery& query,
                                        const lsp::CancellationToken& token) override {
    return inner_->complete(query, token);
  }
  EngineResult<std::vector<InlineSuggestion>> complete_inline(
      const InlineCompletionQuery& query, const lsp::CancellationToken& token) override {
    return inner_->complete_inline(query, token);
  }

 protected:
  CompletionEngine& inner() const { return *inner_; }

 private:
  std::shared_ptr<CompletionEngine> inner_;
};

}  // namespace mnemo::server
