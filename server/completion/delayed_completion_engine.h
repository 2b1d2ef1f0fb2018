// A CompletionEngine decorator that makes every completion take a fixed time, polling its
// cancellation token like a real decode loop does between steps. It exists for protocol
// tests of $/cancelRequest and latest-wins against the real binary
// (`mnemo serve --test-completion-delay-ms N`): a slow model must be cancellable, and the
// symbolic engine alone is too fast to observe that.
#pragma once

#include <chrono>
#include <memory>

#include "server/completion/forwarding_completion_engine.h"

namespace mnemo::server {

/// Thread-safety: as the wrapped engine.
class DelayedCompletionEngine : public ForwardingCompletionEngine {
 public:
  DelayedCompletionEngine(std::shared_ptr<CompletionEngine> inner, std::chrono::milliseconds delay);

  EngineResult<CompletionList> complete(const CompletionQuery& query,
                                        const lsp::CancellationToken& token) override;
  EngineResult<std::vector<InlineSuggestion>> complete_inline(
      const InlineCompletionQuery& query, const lsp::CancellationToken& token) override;

 private:
  /// Waits the delay; returns false (and logs) if cancelled meanwhile.
  bool wait(const lsp::CancellationToken& token, const char* what) const;

  std::chrono::milliseconds delay_;
};

}  // namespace mnemo::server
