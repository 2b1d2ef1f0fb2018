// Menu completion as the compiler sees the file: after `.`, `->` or `::`
// the members of what is on the left, elsewhere the names in scope, each with its signature
// and comment; never a name that would not compile at the cursor. The compiler itself is
// injected (a SemanticSource: libclang in the parse worker for `mnemo serve`), so this
// library links no libclang. When the source cannot answer (no compile command works, the
// worker is busy or failed), the wrapped engine's identifiers answer instead.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "server/completion/forwarding_completion_engine.h"

namespace mnemo::server {

/// Where to complete: at the start of the name being typed, with its typed part.
struct SemanticQuery {
  std::filesystem::path file;  ///< the document's path
  std::filesystem::path root;  ///< the workspace root holding it (empty: none)
  std::string text;            ///< the document as the editor has it
  unsigned line = 1;           ///< 1-based
  unsigned column = 1;         ///< 1-based, in bytes
  std::string prefix;          ///< what is typed of the name: candidates start with it (any case)
  std::size_t max_items = 100;
  /// How long to wait while the compiler answers another request (the menu's, a file being
  /// parsed ahead); 0: answer at once that it is busy, which keeps the menu responsive.
  std::chrono::milliseconds busy_wait{0};
};

struct SemanticItem {
  std::string name;
  std::string signature;  ///< the name with its parameters
  std::string result_type;
  std::string documentation;  ///< the comment, and where it is defined when known
  CompletionItemKind kind = CompletionItemKind::kIdentifier;
};

struct SemanticList {
  std::vector<SemanticItem> items;  ///< likeliest first
  bool truncated = false;
};

using SemanticSource =
    std::function<EngineResult<SemanticList>(const SemanticQuery&, const lsp::CancellationToken&)>;
/// Asks the source to get a file ready (parsed, its headers precompiled) in the background,
/// so that the first menu request on it is answered at once. Must return at once.
using SemanticPrepare = std::function<void(const SemanticQuery&)>;

/// Thread-safety: as the wrapped engine; the source is called from the completion workers.
class SemanticCompletionEngine final : public ForwardingCompletionEngine {
 public:
  SemanticCompletionEngine(std::shared_ptr<CompletionEngine> fallback, SemanticSource source,
                           SemanticPrepare prepare = {});

  /// A C/C++ document opened (seen for the first time) is handed to `prepare`.
  void document_updated(const DocumentView& document) override;
  void document_closed(const std::string& uri) override;
  void index_workspace(const std::vector<std::filesystem::path>& roots, ProgressSink& progress,
                       const lsp::CancellationToken& token) override;
  EngineResult<CompletionList> complete(const CompletionQuery& query,
                                        const lsp::CancellationToken& token) override;

 private:
  std::filesystem::path root_of(const std::filesystem::path& file) const;

  SemanticSource source_;
  SemanticPrepare prepare_;
  mutable std::mutex roots_mutex_;
  std::vector<std::filesystem::path> roots_;  ///< guarded by roots_mutex_
  bool roots_known_ = false;                  ///< guarded by roots_mutex_
  std::set<std::string> prepared_;            ///< open documents' URIs; guarded by roots_mutex_
  std::vector<SemanticQuery> waiting_;        ///< to prepare once the roots are known; ditto
};

/// Whether the menu of a document in this language comes from the C/C++ compiler.
bool is_c_family_language(const std::string& language_id);

}  // namespace mnemo::server
