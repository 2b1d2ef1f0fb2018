#include "server/completion/semantic_completion_engine.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "lsp/uri.h"
#include "server/text/identifier_scan.h"

namespace mnemo::server {
namespace fs = std::filesystem;

bool is_c_family_language(const std::string& language_id) {
  static const char* const kLanguages[] = {"c",    "cpp",    "objective-c", "objective-cpp",
                                           "objc", "objcpp", "cuda",        "cuda-cpp"};
  return std::any_of(std::begin(kLanguages), std::end(kLanguages),
                     [&](const char* l) { return language_id == l; });
}

SemanticCompletionEngine::SemanticCompletionEngine(std::shared_ptr<CompletionEngine> fallback,
                                                   SemanticSource source, SemanticPrepare prepare)
    : ForwardingCompletionEngine(std::move(fallback)),
      source_(std::move(source)),
      prepare_(std::move(prepare)) {}

void SemanticCompletionEngine::document_updated(const DocumentView& document) {
  inner().document_updated(document);
  if (!prepare_ || !is_c_family_language(document.language_id)) return;
  const auto file = lsp::file_uri_to_path(document.uri);
  if (!file) return;
  SemanticQuery q;
  q.file = *file;
  q.text = document.document->text();
  {
    const std::lock_guard<std::mutex> lock(roots_mutex_);
    if (!prepared_.insert(document.uri).second) return;
    if (!roots_known_) {
      // Opened before the workspace's roots arrived: prepared with its root once they do.
      waiting_.push_back(std::move(q));
      return;
    }
  }
  q.root = root_of(*file);
  prepare_(q);
}

void SemanticCompletionEngine::document_closed(const std::string& uri) {
  {
    const std::lock_guard<std::mutex> lock(roots_mutex_);
    prepared_.erase(uri);
  }
  inner().document_closed(uri);
}

void SemanticCompletionEngine::index_workspace(const std::vector<fs::path>& roots,
                                               ProgressSink& progress,
                                               const lsp::CancellationToken& token) {
  std::vector<SemanticQuery> waiting;
  {
    const std::lock_guard<std::mutex> lock(roots_mutex_);
    roots_ = roots;
    roots_known_ = true;
    waiting.swap(waiting_);
  }
  for (SemanticQuery& q : waiting) {
    q.root = root_of(q.file);
    prepare_(q);
  }
  inner().index_workspace(roots, progress, token);
}

fs::path SemanticCompletionEngine::root_of(const fs::path& file) const {
  const std::lock_guard<std::mutex> lock(roots_mutex_);
  for (const fs::path& root : roots_) {
    const fs::path relative = file.lexically_relative(root);
    if (!relative.empty() && *relative.begin() != "..") return root;
  }
  return {};
}

EngineResult<CompletionList> SemanticCompletionEngine::complete(
    const CompletionQuery& query, const lsp::CancellationToken& token) {
  const auto file = lsp::file_uri_to_path(query.document.uri);
  const std::string& text = query.document.document->text();
  if (!file || !is_c_family_language(query.document.language_id) || query.cursor > text.size())
    return inner().complete(query, token);
  const CursorToken typed = token_at_cursor(text, query.cursor);
  if (!typed.is_identifier) return inner().complete(query, token);  // a number
  SemanticQuery q;
  q.file = *file;
  q.root = root_of(*file);
  q.text = text;
  const std::size_t line_start = typed.begin == 0 ? 0 : text.rfind('\n', typed.begin - 1) + 1;
  q.line = static_cast<unsigned>(std::count(text.begin(), text.begin() + typed.begin, '\n') + 1);
  q.column = static_cast<unsigned>(typed.begin - line_start + 1);
  q.prefix = text.substr(typed.begin, query.cursor - typed.begin);
  q.max_items = query.max_items;
  auto answer = source_(q, token);
  if (!answer) {
    if (answer.error().kind == EngineError::Kind::kCancelled) return answer.error();
    spdlog::debug("menu from the identifiers: {}", answer.error().message);
    return inner().complete(query, token);
  }
  CompletionList list;
  list.incomplete = answer.value().truncated;
  // Overloads are one item, as clangd bundles them: the first (likeliest) one's signature,
  // and how many more there are.
  std::vector<std::size_t> overloads;  // per kept item
  const double n = static_cast<double>(answer.value().items.size());
  for (std::size_t i = 0; i < answer.value().items.size(); ++i) {
    SemanticItem& item = answer.value().items[i];
    const auto same = std::find_if(list.items.begin(), list.items.end(), [&](const auto& kept) {
      return kept.label == item.name && kept.kind == item.kind;
    });
    if (same != list.items.end()) {
      ++overloads[static_cast<std::size_t>(same - list.items.begin())];
      continue;
    }
    overloads.push_back(0);
    CompletionCandidate c;
    c.label = item.name;
    c.insert_text = std::move(item.name);
    c.replace_begin = typed.begin;
    c.replace_end = query.cursor;
    c.detail = item.result_type.empty() ? std::move(item.signature)
                                        : item.result_type + " " + item.signature;
    c.documentation = std::move(item.documentation);
    c.kind = item.kind;
    c.score = n - static_cast<double>(i);  // the source's order
    list.items.push_back(std::move(c));
  }
  for (std::size_t i = 0; i < list.items.size(); ++i) {
    if (overloads[i] > 0)
      list.items[i].detail +=
          " (+" + std::to_string(overloads[i]) + (overloads[i] == 1 ? " overload)" : " overloads)");
  }
  return list;
}

}  // namespace mnemo::server
