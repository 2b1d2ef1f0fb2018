#include "server/completion/delayed_completion_engine.h"

#include <spdlog/spdlog.h>

namespace mnemo::server {

DelayedCompletionEngine::DelayedCompletionEngine(std::shared_ptr<CompletionEngine> inner,
                                                 std::chrono::milliseconds delay)
    : ForwardingCompletionEngine(std::move(inner)), delay_(delay) {}

bool DelayedCompletionEngine::wait(const lsp::CancellationToken& token, const char* what) const {
  const auto start = std::chrono::steady_clock::now();
  if (token.wait_for(delay_)) return true;
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  spdlog::info("{}: cancellation observed after {} ms", what, waited.count());
  return false;
}

EngineResult<CompletionList> DelayedCompletionEngine::complete(
    const CompletionQuery& query, const lsp::CancellationToken& token) {
  if (!wait(token, "completion")) return EngineError{EngineError::Kind::kCancelled, "cancelled"};
  return inner().complete(query, token);
}

EngineResult<std::vector<InlineSuggestion>> DelayedCompletionEngine::complete_inline(
    const InlineCompletionQuery& query, const lsp::CancellationToken& token) {
  if (!wait(token, "inline completion"))
    return EngineError{EngineError::Kind::kCancelled, "cancelled"};
  return inner().complete_inline(query, token);
}

}  // namespace mnemo::server
