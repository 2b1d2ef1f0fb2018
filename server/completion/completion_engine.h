// The completion core's API: what the LSP adapter asks for and what it gets back, in
// native types (byte offsets into UTF-8 text, no JSON, no LSP positions). The adapter
// converts at the edge, as clangd's ClangdLSPServer does for ClangdServer.
//
// The first implementation is SymbolicCompletionEngine (identifiers of the open documents
// and the workspace); the model-backed engine arrives later behind the same interface and
// keeps the symbolic one as its fallback and baseline.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lsp/cancellation.h"
#include "lsp/result.h"
#include "lsp/text_document.h"

namespace mnemo::server {

/// An open document as the engine sees it: immutable text at one version.
struct DocumentView {
  std::string uri;
  std::string language_id;
  std::int64_t version = 0;
  std::shared_ptr<const lsp::TextDocument> document;
};

enum class CompletionItemKind {
  kText,
  kKeyword,
  kIdentifier,  ///< a variable or constant
  kField,
  kFunction,
  kType,
  kNamespace,
  kMacro,
  kSnippet
};

/// One menu entry. It replaces bytes [replace_begin, replace_end) of the document with
/// `insert_text`; replace_end is the cursor and replace_begin <= cursor on the same line.
struct CompletionCandidate {
  std::string label;
  std::string insert_text;
  std::size_t replace_begin = 0;
  std::size_t replace_end = 0;
  std::string detail;         ///< one line, e.g. a signature or where the name is used
  std::string documentation;  ///< may be empty
  CompletionItemKind kind = CompletionItemKind::kText;
  double score = 0;  ///< higher is better; items arrive sorted by descending score
};

struct CompletionList {
  std::vector<CompletionCandidate> items;
  /// True when more candidates exist than were returned: the client must ask again as the
  /// user types instead of filtering this list.
  bool incomplete = false;
};

struct CompletionQuery {
  DocumentView document;
  std::size_t cursor = 0;  ///< byte offset into document.document->text()
  std::size_t max_items = 100;
};

enum class InlineTrigger { kInvoked, kAutomatic };

/// The item currently selected in the client's completion menu: inline suggestions must
/// extend it (replace the same range and start with its text).
struct SelectedCompletion {
  std::size_t replace_begin = 0;
  std::size_t replace_end = 0;
  std::string text;
};

struct InlineCompletionQuery {
  DocumentView document;
  std::size_t cursor = 0;
  InlineTrigger trigger = InlineTrigger::kAutomatic;
  std::optional<SelectedCompletion> selected;
};

/// Ghost text: replaces bytes [replace_begin, replace_end) (on the cursor's line) with
/// `insert_text`, which may span several lines.
struct InlineSuggestion {
  std::string insert_text;
  std::size_t replace_begin = 0;
  std::size_t replace_end = 0;
  double score = 0;
};

struct EngineError {
  enum class Kind { kCancelled, kInvalidArgument, kInternal };
  Kind kind = Kind::kInternal;
  std::string message;
};

template <class T>
using EngineResult = Result<T, EngineError>;

/// Progress of long engine work (workspace indexing), reported by the engine and shown by
/// the adapter (LSP $/progress, or a terminal bar). Called from the worker doing the work.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void begin(const std::string& title, const std::string& message) = 0;
  /// `percentage` in [0, 100] when known.
  virtual void report(const std::string& message, std::optional<unsigned> percentage) = 0;
  virtual void end(const std::string& message) = 0;
};

/// Thread-safety: every method may be called from any thread, concurrently. The document
/// notifications are called on the protocol thread and must return quickly; complete*
/// and index_workspace run on worker threads and poll their token between steps.
class CompletionEngine {
 public:
  virtual ~CompletionEngine() = default;

  virtual void document_updated(const DocumentView& document) = 0;
  virtual void document_closed(const std::string& uri) = 0;

  /// Scans the workspace roots (blocking). Cancellable; progress goes to `progress`.
  virtual void index_workspace(const std::vector<std::filesystem::path>& roots,
                               ProgressSink& progress, const lsp::CancellationToken& token) = 0;

  virtual EngineResult<CompletionList> complete(const CompletionQuery& query,
                                                const lsp::CancellationToken& token) = 0;
  /// At most 3 distinct suggestions when invoked explicitly, at most 1 when automatic.
  virtual EngineResult<std::vector<InlineSuggestion>> complete_inline(
      const InlineCompletionQuery& query, const lsp::CancellationToken& token) = 0;
};

}  // namespace mnemo::server
