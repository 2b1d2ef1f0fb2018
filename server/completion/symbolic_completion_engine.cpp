// SymbolicCompletionEngine: snapshot management, the workspace scan driver, and the
// translation of a ranking into completion items and inline suggestions.
#include "server/completion/symbolic_completion_engine.h"

#include <exception>
#include <string_view>
#include <utility>

#include "lsp/uri.h"
#include "server/text/identifier_scan.h"

namespace mnemo::server {
namespace {

// The scan reports progress once per this many files read.
constexpr std::size_t kProgressInterval = 100;
constexpr std::size_t kInvokedInlineSuggestions = 3;
constexpr std::size_t kAutomaticInlineSuggestions = 1;

EngineError cancelled_error() {
  return EngineError{EngineError::Kind::kCancelled, "symbolic completion cancelled"};
}

/// The query's text, or an error when the view or cursor is unusable.
EngineResult<std::string_view> checked_text(const DocumentView& view, std::size_t cursor) {
  if (!view.document) {
    return EngineError{EngineError::Kind::kInvalidArgument, "no document text for " + view.uri};
  }
  const std::string& text = view.document->text();
  if (cursor > text.size()) {
    return EngineError{EngineError::Kind::kInvalidArgument,
                       "cursor " + std::to_string(cursor) + " is past the end of " + view.uri};
  }
  return std::string_view(text);
}

std::string count_phrase(std::uint64_t count, const char* where) {
  return std::to_string(count) + (count == 1 ? " use " : " uses ") + where;
}

/// "identifier · 3 uses in this file, 40 in other files": where the rank came from.
std::string describe_uses(const IdentifierUses& uses) {
  const std::uint64_t elsewhere = uses.in_open_documents + uses.in_workspace;
  std::string detail = "identifier \u00b7 ";
  if (uses.in_document > 0) {
    detail += count_phrase(uses.in_document, "in this file");
    if (elsewhere > 0) detail += ", " + std::to_string(elsewhere) + " in other files";
  } else {
    detail += count_phrase(elsewhere, "in other files");
  }
  return detail;
}

}  // namespace

SymbolicCompletionEngine::SymbolicCompletionEngine(WorkspaceScanLimits limits)
    : limits_(limits), open_documents_(std::make_shared<const OpenDocumentTable>()) {}

SymbolicCompletionEngine::Sources SymbolicCompletionEngine::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return Sources{open_documents_, workspace_};
}

void SymbolicCompletionEngine::document_updated(const DocumentView& document) {
  auto entry = std::make_shared<OpenDocumentIdentifiers>();
  entry->path_key = lsp::uri_path_key(document.uri);
  if (document.document) entry->counts = count_identifiers(document.document->text());

  std::lock_guard<std::mutex> lock(mutex_);
  auto table = std::make_shared<OpenDocumentTable>(*open_documents_);
  (*table)[document.uri] = std::move(entry);
  open_documents_ = std::move(table);
}

void SymbolicCompletionEngine::document_closed(const std::string& uri) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (open_documents_->count(uri) == 0) return;
  auto table = std::make_shared<OpenDocumentTable>(*open_documents_);
  table->erase(uri);
  open_documents_ = std::move(table);
}

void SymbolicCompletionEngine::index_workspace(const std::vector<std::filesystem::path>& roots,
                                               ProgressSink& progress,
                                               const lsp::CancellationToken& token) {
  std::uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation = ++scans_started_;
  }
  progress.begin("Indexing workspace", "Looking for source files");
  try {
    const auto files = collect_workspace_files(roots, limits_, token);
    if (!files) {
      progress.end("Indexing cancelled");
      return;
    }
    const std::size_t total = files->size();
    WorkspaceIdentifiersBuilder builder;
    for (std::size_t i = 0; i < total; ++i) {
      if (token.cancelled()) {
        progress.end("Indexing cancelled");
        return;
      }
      if (i % kProgressInterval == 0) {
        progress.report(std::to_string(i) + "/" + std::to_string(total) + " files",
                        static_cast<unsigned>(i * 100 / total));
      }
      if (auto text = read_source_file((*files)[i], limits_)) {
        builder.add_file(lsp::path_key((*files)[i]), *text);
      }
    }
    auto table = std::move(builder).build();
    const std::size_t indexed = table->file_count();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (generation > workspace_generation_) {
        workspace_ = std::move(table);
        workspace_generation_ = generation;
      }
    }
    progress.end("Indexed " + std::to_string(indexed) + " files");
  } catch (...) {
    progress.end("Indexing failed");
    throw;
  }
}

EngineResult<CompletionList> SymbolicCompletionEngine::complete(
    const CompletionQuery& query, const lsp::CancellationToken& token) {
  if (token.cancelled()) return cancelled_error();
  try {
    auto text_or = checked_text(query.document, query.cursor);
    if (!text_or) return text_or.error();
    const std::string_view text = text_or.value();
    const std::size_t cursor = query.cursor;

    const CursorToken typed = token_at_cursor(text, cursor);
    if (!typed.is_identifier) return CompletionList{};  // inside a number
    const std::string_view prefix = text.substr(typed.begin, cursor - typed.begin);
    if (prefix.empty() && !is_member_access_before(text, cursor)) {
      // Nothing typed yet: the client must ask again once a word starts.
      return CompletionList{{}, /*incomplete=*/true};
    }

    const Sources sources = snapshot();
    RankingRequest request;
    request.text = text;
    request.uri = query.document.uri;
    request.cursor = cursor;
    request.typed_begin = typed.begin;
    request.typed_end = typed.end;
    request.prefix = prefix;
    request.limit = query.max_items;
    auto ranking =
        rank_identifiers(request, *sources.open_documents, sources.workspace.get(), token);
    if (!ranking) return ranking.error();

    CompletionList list;
    list.incomplete = ranking.value().truncated || prefix.empty();
    list.items.reserve(ranking.value().top.size());
    for (const RankedIdentifier& ranked : ranking.value().top) {
      CompletionCandidate item;
      item.label = std::string(ranked.name);
      item.insert_text = item.label;
      item.replace_begin = typed.begin;
      item.replace_end = cursor;
      item.detail = describe_uses(ranked.uses);
      item.kind = CompletionItemKind::kIdentifier;
      item.score = ranked.score;
      list.items.push_back(std::move(item));
    }
    return list;
  } catch (const std::exception& e) {
    return EngineError{EngineError::Kind::kInternal,
                       std::string("symbolic completion: ") + e.what()};
  }
}

EngineResult<std::vector<InlineSuggestion>> SymbolicCompletionEngine::complete_inline(
    const InlineCompletionQuery& query, const lsp::CancellationToken& token) {
  if (token.cancelled()) return cancelled_error();
  try {
    auto text_or = checked_text(query.document, query.cursor);
    if (!text_or) return text_or.error();
    const std::string_view text = text_or.value();
    const std::size_t cursor = query.cursor;
    const CursorToken typed = token_at_cursor(text, cursor);

    RankingRequest request;
    request.text = text;
    request.uri = query.document.uri;
    request.cursor = cursor;
    request.typed_begin = typed.begin;
    request.typed_end = typed.end;
    // Ghost text is shown only when it literally extends what is in the editor.
    request.exact_case_only = true;
    request.longer_than_prefix = true;
    request.limit = query.trigger == InlineTrigger::kInvoked ? kInvokedInlineSuggestions
                                                             : kAutomaticInlineSuggestions;
    std::size_t replace_begin = typed.begin;
    std::size_t replace_end = cursor;
    if (query.selected) {
      const SelectedCompletion& selected = *query.selected;
      if (selected.replace_begin > selected.replace_end || selected.replace_end > text.size()) {
        return EngineError{EngineError::Kind::kInvalidArgument,
                           "selected completion range is outside the document"};
      }
      if (selected.text.empty()) return std::vector<InlineSuggestion>{};
      request.prefix = selected.text;
      replace_begin = selected.replace_begin;
      replace_end = selected.replace_end;
    } else {
      // Inside a number, nothing typed, or in the middle of a word (the ghost text would
      // land before the word's rest): nothing to suggest.
      if (!typed.is_identifier || typed.begin == cursor || typed.end != cursor) {
        return std::vector<InlineSuggestion>{};
      }
      request.prefix = text.substr(typed.begin, cursor - typed.begin);
    }

    const Sources sources = snapshot();
    auto ranking =
        rank_identifiers(request, *sources.open_documents, sources.workspace.get(), token);
    if (!ranking) return ranking.error();

    std::vector<InlineSuggestion> suggestions;
    for (const RankedIdentifier& ranked : ranking.value().top) {
      // Names are unique within a ranking, so the suggestions are distinct.
      suggestions.push_back({std::string(ranked.name), replace_begin, replace_end, ranked.score});
    }
    return suggestions;
  } catch (const std::exception& e) {
    return EngineError{EngineError::Kind::kInternal,
                       std::string("symbolic inline completion: ") + e.what()};
  }
}

std::size_t SymbolicCompletionEngine::indexed_file_count() const {
  const Sources sources = snapshot();
  return sources.workspace ? sources.workspace->file_count() : 0;
}

}  // namespace mnemo::server
