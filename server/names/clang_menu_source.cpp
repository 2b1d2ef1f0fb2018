#include "server/names/clang_menu_source.h"

#include <algorithm>
#include <set>
#include <utility>

#include "indexer/repository_indexer.h"

namespace mnemo::server {
namespace fs = std::filesystem;

namespace {

/// A menu item's kind for a libclang candidate's.
CompletionItemKind item_kind(indexer::SemanticCandidate::Kind kind) {
  using K = indexer::SemanticCandidate::Kind;
  switch (kind) {
    case K::kFunction:
      return CompletionItemKind::kFunction;
    case K::kVariable:
      return CompletionItemKind::kIdentifier;
    case K::kField:
      return CompletionItemKind::kField;
    case K::kType:
      return CompletionItemKind::kType;
    case K::kNamespace:
      return CompletionItemKind::kNamespace;
    case K::kMacro:
      return CompletionItemKind::kMacro;
    case K::kKeyword:
      return CompletionItemKind::kKeyword;
    case K::kOther:
      break;
  }
  return CompletionItemKind::kText;
}

/// Items whose definition site is looked up: the menu's top, which the user reads.
constexpr std::size_t kDefinitionLookups = 40;

}  // namespace

ClangMenuSource::ClangMenuSource(std::vector<std::string> worker_argv, fs::path index_dir)
    // The first request on a file parses its headers too: seconds for a large one.
    : index_dir_(std::move(index_dir)), worker_(std::move(worker_argv), std::chrono::seconds(20)) {
  preparer_ = std::thread([this] {
    for (;;) {
      SemanticQuery query;
      {
        std::unique_lock<std::mutex> lock(pending_mutex_);
        pending_changed_.wait(lock, [this] { return stopping_ || pending_.has_value(); });
        if (stopping_) return;
        query = std::move(*pending_);
        pending_.reset();
      }
      // A completion at the file's end: parses it and precompiles its preamble (at its start,
      // inside the preamble, it would parse the headers again).
      const std::size_t last_line = query.text.rfind('\n');
      query.line =
          static_cast<unsigned>(std::count(query.text.begin(), query.text.end(), '\n') + 1);
      query.column = static_cast<unsigned>(
          query.text.size() - (last_line == std::string::npos ? 0 : last_line + 1) + 1);
      query.prefix.clear();
      query.max_items = 1;
      const std::lock_guard<std::timed_mutex> lock(mutex_);
      (void)complete_locked(query);
    }
  });
}

ClangMenuSource::~ClangMenuSource() {
  {
    const std::lock_guard<std::mutex> lock(pending_mutex_);
    stopping_ = true;
  }
  pending_changed_.notify_all();
  preparer_.join();
}

void ClangMenuSource::prepare(const SemanticQuery& query) {
  {
    const std::lock_guard<std::mutex> lock(pending_mutex_);
    pending_ = query;
  }
  pending_changed_.notify_all();
}

fs::path ClangMenuSource::index_dir_of(const fs::path& root) const {
  return index_dir_.empty() ? root / ".mnemo" : index_dir_;
}

namespace {

/// The sizes and times of the files the compile flags are made from: a change of any
/// (an index run wrote, a compile_commands.json appeared) makes them again.
std::string stamp_of(const std::vector<fs::path>& files) {
  std::string stamp;
  for (const fs::path& file : files) {
    std::error_code ec;
    const auto time = fs::last_write_time(file, ec);
    const auto size = ec ? 0 : fs::file_size(file, ec);
    stamp +=
        ec ? std::string("-;")
           : std::to_string(time.time_since_epoch().count()) + ":" + std::to_string(size) + ";";
  }
  return stamp;
}

}  // namespace

indexer::SymbolDatabase* ClangMenuSource::database_for(const fs::path& root) {
  if (database_ && database_root_ == root) return database_.get();
  database_.reset();
  auto opened = indexer::SymbolDatabase::open(indexer::symbol_database_path(index_dir_of(root)),
                                              indexer::SymbolDatabase::OpenMode::kReadOnly);
  if (!opened) return nullptr;  // not indexed yet: asked again next time
  database_ = std::move(opened).value();
  database_root_ = root;
  return database_.get();
}

const indexer::CompileFlags& ClangMenuSource::flags_for(const fs::path& root) {
  const fs::path index = indexer::symbol_database_path(index_dir_of(root));
  const std::string stamp =
      stamp_of({index, index.string() + "-wal", root / "compile_commands.json",
                root / "build" / "compile_commands.json"});
  if (!flags_ || flags_root_ != root || flags_stamp_ != stamp) {
    std::vector<std::string> files;
    if (indexer::SymbolDatabase* database = database_for(root)) {
      if (auto stored = database->files()) files = std::move(stored).value();
    }
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(root, ec);
    flags_ = indexer::CompileFlags::for_repository(ec ? root : canonical,
                                                   indexer::include_folders(files));
    flags_root_ = root;
    flags_stamp_ = stamp;
  }
  return *flags_;
}

std::string ClangMenuSource::definition_site(const fs::path& root, const std::string& name) {
  indexer::SymbolDatabase* database = database_for(root);
  if (database == nullptr) return {};
  auto found = database->symbols_named(name);
  if (!found) return {};
  std::set<std::pair<std::string, std::uint32_t>> sites;
  for (const indexer::SymbolInFile& s : found.value()) {
    if (s.symbol.is_definition) sites.insert({s.file, s.symbol.line});
  }
  if (sites.size() != 1) return {};  // none, or overloads and namesakes: which one is unknown
  return "Defined in " + sites.begin()->first + ":" + std::to_string(sites.begin()->second);
}

EngineResult<SemanticList> ClangMenuSource::complete(const SemanticQuery& query,
                                                     const lsp::CancellationToken& token) {
  std::unique_lock<std::timed_mutex> lock(mutex_, std::defer_lock);
  if (!(query.busy_wait.count() > 0 ? lock.try_lock_for(query.busy_wait) : lock.try_lock()))
    return EngineError{EngineError::Kind::kInternal, "libclang is busy with another request"};
  if (token.cancelled()) return EngineError{EngineError::Kind::kCancelled, "cancelled"};
  return complete_locked(query);
}

EngineResult<SemanticList> ClangMenuSource::complete_locked(const SemanticQuery& query) {
  if (const auto failed = failed_.find(query.file);
      failed != failed_.end() && std::chrono::steady_clock::now() - failed->second < kRetryAfter)
    return EngineError{EngineError::Kind::kInternal,
                       query.file.string() + ": libclang failed on it a moment ago"};
  const fs::path root = query.root.empty() ? query.file.parent_path() : query.root;
  indexer::SemanticRequest request;
  request.file = query.file;
  request.contents = query.text;
  request.command = flags_for(root).command_for(query.file);
  request.line = query.line;
  request.column = query.column;
  request.prefix = query.prefix;
  request.max_candidates = query.max_items;
  auto answer = worker_.complete(request);
  if (!answer) {
    failed_[query.file] = std::chrono::steady_clock::now();
    return EngineError{EngineError::Kind::kInternal, answer.error().message};
  }
  failed_.erase(query.file);
  SemanticList list;
  list.truncated = answer.value().truncated;
  for (indexer::SemanticCandidate& c : answer.value().candidates) {
    SemanticItem item;
    item.kind = item_kind(c.kind);
    item.documentation = std::move(c.brief);
    if (!query.root.empty() && list.items.size() < kDefinitionLookups &&
        item.kind != CompletionItemKind::kKeyword) {
      const std::string site = definition_site(root, c.name);
      if (!site.empty()) item.documentation += (item.documentation.empty() ? "" : "\n\n") + site;
    }
    item.name = std::move(c.name);
    item.signature = std::move(c.signature);
    item.result_type = std::move(c.result_type);
    list.items.push_back(std::move(item));
  }
  return list;
}

}  // namespace mnemo::server
