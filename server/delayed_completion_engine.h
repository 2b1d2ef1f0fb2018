// A CompletionEngine decorator that makes every completion take a fixed time, polling its
// cancellation token like a real decode loop does between steps. It exists for protocol
// tests of $/cancelRequest and latest-wins against the real binary
// (`mnemo serve --test-completion-delay-ms N`): a slow model must be cancellable, and the
// symbolic engine alone is too fast to observe that.
#pragma once

#include <chrono>
#include <memory>

#include "server/completion_engine.h"

namespace mnemo::server {

/// Thread-safety: as the wrapped engine.
class DelayedCompletionEngine : public CompletionEngine {
 public:
  DelayedCompletionEngine(std::shared_ptr<CompletionEngine> inner, std::chrono::milliseconds delay);

  void document_updated(const DocumentView& document) override;
  void document_closed(const std::string& uri) override;
  void index_workspace(const std::vector<std::filesystem::path>& roots, ProgressSink& progress,
                       const lsp::CancellationToken& token) override;
  EngineResult<CompletionList> complete(const CompletionQuery& query,
                                        const lsp::CancellationToken& token) override;
  EngineResult<std::vector<InlineSuggestion>> complete_inline(
      const InlineCompletionQuery& query, const lsp::CancellationToken& token) override;

 private:
  /// Sleeps in small steps; returns false (and logs) if cancelled meanwhile.
  bool wait(const lsp::CancellationToken& token, const char* what) const;

  std::shared_ptr<CompletionEngine> inner_;
  std::chrono::milliseconds delay_;
};

}  // namespace mnemo::server
