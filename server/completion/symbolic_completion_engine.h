// The symbolic completion engine: completes the identifier being typed from the words of
// the current document, the other open documents and the workspace, ranked by how often
// and how near they are used. It needs no model, answers in milliseconds, and stays as
// the model-backed engine's fallback and the baseline its ranking is measured against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/completion/completion_engine.h"
#include "server/completion/identifier_ranking.h"
#include "server/completion/workspace_files.h"
#include "server/completion/workspace_identifiers.h"

namespace mnemo::server {

/// Thread-safety: every method may be called concurrently from any thread. The open
/// documents and the workspace table are immutable snapshots behind shared_ptrs; writers
/// build a new one outside the lock and swap it in under `mutex_`, and readers copy the
/// pointers under the lock and rank without it, so a completion never blocks an update.
class SymbolicCompletionEngine final : public CompletionEngine {
 public:
  explicit SymbolicCompletionEngine(WorkspaceScanLimits limits = {});

  /// O(document): recounts the document's identifiers and replaces its entry.
  void document_updated(const DocumentView& document) override;
  void document_closed(const std::string& uri) override;

  /// Reads the indexable files under `roots` (see workspace_files.h) and, unless
  /// cancelled, replaces the workspace table with the result. A cancelled scan keeps the
  /// previous table; of overlapping scans, the one started last wins.
  void index_workspace(const std::vector<std::filesystem::path>& roots, ProgressSink& progress,
                       const lsp::CancellationToken& token) override;

  /// The identifiers starting with the typed prefix; after `.`, `->` or `::` with nothing
  /// typed, every identifier. kInvalidArgument when the cursor is past the end.
  EngineResult<CompletionList> complete(const CompletionQuery& query,
                                        const lsp::CancellationToken& token) override;
  /// Ghost text finishing the identifier being typed (exact case, strictly longer), or
  /// extending the selected menu item. Nothing when the cursor is inside a word.
  EngineResult<std::vector<InlineSuggestion>> complete_inline(
      const InlineCompletionQuery& query, const lsp::CancellationToken& token) override;

  /// Files in the current workspace table (0 before the first completed scan).
  std::size_t indexed_file_count() const;

 private:
  struct Sources {
    std::shared_ptr<const OpenDocumentTable> open_documents;
    std::shared_ptr<const WorkspaceIdentifiers> workspace;
  };
  Sources snapshot() const;

  const WorkspaceScanLimits limits_;

  mutable std::mutex mutex_;
  std::shared_ptr<const OpenDocumentTable> open_documents_;  // guarded by mutex_; never null
  std::shared_ptr<const WorkspaceIdentifiers> workspace_;    // guarded by mutex_; may be null
  std::uint64_t workspace_generation_ = 0;  // guarded by mutex_: the scan that built workspace_
  std::uint64_t scans_started_ = 0;         // guarded by mutex_
};

}  // namespace mnemo::server
