#include "server/semantic_completion_engine.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "lsp/uri.h"
#include "server/identifier_scan.h"

namespace mnemo::server {
namespace fs = std::filesystem;

bool is_c_family_language(const std::string& language_id) {
  static const char* const kLanguages[] = {"c",    "cpp",    "objective-c", "objective-cpp",
                                           "objc", "objcpp", "cuda",        "cuda-cpp"};
  return std::any_of(std::begin(kLanguages), std::end(kLanguages),
                     [&](const char* l) { return language_id == l; });
}

SemanticCompletionEngine::SemanticCompletionEngine(std::shared_ptr<CompletionEngine> fallback,
                                                   SemanticSource source)
    : ForwardingCompletionEngine(std::move(fallback)), source_(std::move(source)) {}

void SemanticCompletionEngine::index_workspace(const std::vector<fs::path>& roots,
                                               ProgressSink& progress,
                                               const lsp::CancellationToken& token) {
  {
    const std::lock_guard<std::mutex> lock(roots_mutex_);
    roots_ = roots;
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
  const double n = static_cast<double>(answer.value().items.size());
  for (std::size_t i = 0; i < answer.value().items.size(); ++i) {
    SemanticItem& item = answer.value().items[i];
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
  return list;
}

}  // namespace mnemo::server
