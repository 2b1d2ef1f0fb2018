#include "server/delayed_completion_engine.h"

#include <thread>

#include <spdlog/spdlog.h>

namespace mnemo::server {

DelayedCompletionEngine::DelayedCompletionEngine(std::shared_ptr<CompletionEngine> inner,
                                                 std::chrono::milliseconds delay)
    : inner_(std::move(inner)), delay_(delay) {}

void DelayedCompletionEngine::document_updated(const DocumentView& document) {
  inner_->document_updated(document);
}
void DelayedCompletionEngine::document_closed(const std::string& uri) {
  inner_->document_closed(uri);
}
void DelayedCompletionEngine::index_workspace(const std::vector<std::filesystem::path>& roots,
                                              ProgressSink& progress,
                                              const lsp::CancellationToken& token) {
  inner_->index_workspace(roots, progress, token);
}

bool DelayedCompletionEngine::wait(const lsp::CancellationToken& token, const char* what) const {
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < delay_) {
    if (token.cancelled()) {
      const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
      spdlog::info("{}: cancellation observed after {} ms", what, waited.count());
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

EngineResult<CompletionList> DelayedCompletionEngine::complete(
    const CompletionQuery& query, const lsp::CancellationToken& token) {
  if (!wait(token, "completion")) return EngineError{EngineError::Kind::kCancelled, "cancelled"};
  return inner_->complete(query, token);
}

EngineResult<std::vector<InlineSuggestion>> DelayedCompletionEngine::complete_inline(
    const InlineCompletionQuery& query, const lsp::CancellationToken& token) {
  if (!wait(token, "inline completion"))
    return EngineError{EngineError::Kind::kCancelled, "cancelled"};
  return inner_->complete_inline(query, token);
}

}  // namespace mnemo::server
