#include "server/completer/serve_memory.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include <spdlog/spdlog.h>

#include "indexer/content_hash.h"
#include "indexer/repository_indexer.h"
#include "indexer/symbol_database.h"
#include "server/names/declaration_block.h"

namespace mnemo::server {
namespace fs = std::filesystem;

indexer::MemoryIndexOptions memory_options(const CompletionSettings& settings,
                                           const fs::path& index_dir) {
  auto options = indexer::MemoryIndexOptions::in_index(index_dir);
  options.window = settings.memory_window;
  options.top_k = settings.memory_top_k;
  options.budget_bytes = settings.memory_budget_mb << 20;
  options.content.include = settings.memory_include;
  options.content.exclude = settings.memory_exclude;
  return options;
}

std::string memory_model_id(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    const auto size = fs::is_regular_file(path, ec) ? fs::file_size(path, ec) : 0;
    return path.filename().string() + ":" + std::to_string(size);
  }
  // A folder's weights are retrained in place at the same size (the built-in model's are):
  // its config.json, which `mnemo train` stamps with the steps trained, tells builds apart.
  const auto weights = fs::file_size(path / "model.safetensors", ec);
  std::ifstream in(path / "config.json", std::ios::binary);
  std::stringstream config;
  config << in.rdbuf();
  return path.filename().string() + ":" + std::to_string(ec ? 0 : weights) + ":" +
         indexer::git_blob_id(config.str()).substr(0, 12);
}

namespace {

/// The settings the memory and the completer are made with (the debounce is not one).
bool same_process_settings(const CompletionSettings& a, const CompletionSettings& b) {
  CompletionSettings b_with_a_debounce = b;
  b_with_a_debounce.debounce = a.debounce;
  return a == b_with_a_debounce;
}

}  // namespace

std::optional<std::string> ServeMemory::configure(const CompletionSettings& settings) {
  if (settings.model.empty()) return std::nullopt;
  const std::lock_guard<std::mutex> lock(settings_mutex_);
  if (!settings_) {
    settings_ = settings;
    return std::nullopt;
  }
  if (same_process_settings(*settings_, settings)) return std::nullopt;
  return "this server already completes with " + settings_->model.string() +
         " and its memory and prompt settings; restart it to use other ones (the model is " +
         "off in this session)";
}

void ServeMemory::set_compiler_names(SemanticSource source) {
  const std::lock_guard<std::mutex> lock(completion_mutex_);
  compiler_names_ = std::move(source);
  finder_.reset();
}

bool ServeMemory::has_model() const {
  const std::lock_guard<std::mutex> lock(settings_mutex_);
  return settings_.has_value();
}

CompletionSettings ServeMemory::settings() const {
  const std::lock_guard<std::mutex> lock(settings_mutex_);
  return settings_.value_or(CompletionSettings{});
}

model::Result<indexer::MemoryIndexer*, indexer::IndexRunError> ServeMemory::open(
    const fs::path& index_dir) {
  if (indexer_ && opened_dir_ == index_dir) return indexer_.get();
  const CompletionSettings settings = this->settings();
  if (settings.model.empty()) return indexer::IndexRunError{"memory: no model is configured"};
  if (!model_) {
    auto loaded = model::load_model(settings.model.string());
    if (!loaded) return indexer::IndexRunError{"memory: " + loaded.error().message};
    model_ = std::move(loaded).value();
  }
  const indexer::MemoryIndexOptions options = memory_options(settings, index_dir);
  indexer_.reset();  // another folder: its lock goes before the next one is taken
  {
    const std::lock_guard<std::mutex> lock(completion_mutex_);
    completer_.reset();  // it reads the previous indexer's mirror
  }
  auto opened = indexer::MemoryIndexer::open(*model_, memory_model_id(settings.model), options);
  if (!opened) return opened.error();
  indexer_ = std::move(opened).value();
  opened_dir_ = index_dir;
  // What completions read: the stored memory, then every change the indexer makes.
  auto loaded = indexer_->load_tier();
  if (!loaded) return loaded.error();
  auto memory = std::make_shared<indexer::RepositoryMemory>();
  memory->tier = std::move(loaded.value().tier);
  memory->layers = indexer_->memory_layers();
  {
    const std::lock_guard<std::mutex> lock(completion_mutex_);
    indexer_->mirror_into(memory->tier.get(), &completion_mutex_);
    completer_ = std::make_unique<ModelCompleter>(
        *model_, memory, PromptBudget{settings.prefix_tokens, settings.suffix_tokens});
    completer_->set_next_token_weight(settings.memory_next_token_weight);
  }
  // Completions run meanwhile, over the files admitted so far. Nothing else changes the
  // tier until this returns: the indexer's writes wait for mutex_, which the caller holds.
  auto problems =
      model::memory::admit_pending(*memory->tier, completion_mutex_, loaded.value().pending);
  problems.insert(problems.end(), loaded.value().to_reindex.begin(),
                  loaded.value().to_reindex.end());
  if (!problems.empty()) {
    spdlog::warn("memory: {} stored files failed their checks and are encoded again",
                 problems.size());
    if (auto failed = indexer_->reindex(problems)) return *failed;
  }
  return indexer_.get();
}

void ServeMemory::refresh_identifiers(const fs::path& index_dir) {
  const CompletionSettings settings = this->settings();
  if (settings.identifier_boost <= 0) return;
  auto names = repository_identifiers(index_dir);
  if (!names) {
    spdlog::warn("identifier bias: {}", names.error());
    return;
  }
  const std::lock_guard<std::mutex> lock(completion_mutex_);
  if (completer_) completer_->set_identifiers(std::move(names).value(), settings.identifier_boost);
}

Result<std::shared_ptr<const model::KnownIdentifiers>, std::string> repository_identifiers(
    const fs::path& index_dir) {
  auto database = indexer::SymbolDatabase::open(indexer::symbol_database_path(index_dir),
                                                indexer::SymbolDatabase::OpenMode::kReadOnly);
  if (!database) return database.error().message;
  auto names = database.value()->symbol_names();
  if (!names) return names.error().message;
  return std::make_shared<const model::KnownIdentifiers>(std::move(names).value());
}

model::Result<indexer::MemoryIndexReport, indexer::IndexRunError> ServeMemory::update(
    const fs::path& root, const fs::path& index_dir, const std::vector<indexer::WalkedFile>& files,
    const SymbolIndexProgress& progress, const std::atomic<bool>& cancel) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto memory = open(index_dir);
  if (!memory) return memory.error();
  {
    const std::lock_guard<std::mutex> completion(completion_mutex_);
    root_ = root;
    if (index_dir_ != index_dir) finder_.reset();
    index_dir_ = index_dir;
    // The symbol run before this one changed the index: what the names read of it is old.
    if (names_index_) names_index_->refresh();
  }
  // The names the symbol run before this one stored (once a run: not in open(), which
  // holds completion_mutex_ when it makes the completer).
  refresh_identifiers(index_dir);
  return memory.value()->update(root, files, progress, &cancel);
}

model::Result<indexer::MemoryIndexer::FileUpdate, indexer::IndexRunError> ServeMemory::update_file(
    const fs::path& index_dir, const std::string& path, const std::string& text) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto memory = open(index_dir);
  if (!memory) return memory.error();
  return memory.value()->update_file(path, text);
}

namespace {

EngineError engine_error(const model::ModelError& error) {
  const bool cancelled = error.kind == model::ModelError::Kind::kCancelled;
  return {cancelled ? EngineError::Kind::kCancelled : EngineError::Kind::kInternal, error.message};
}

}  // namespace

std::string ServeMemory::memory_file_of(const fs::path& file) const {
  const fs::path relative = file.lexically_normal().lexically_relative(root_);
  if (root_.empty() || relative.empty() || *relative.begin() == "..") return {};
  return relative.generic_string();
}

ServeMemory::CursorContext ServeMemory::cursor_context(const fs::path& file,
                                                       const std::string& text, std::size_t cursor,
                                                       const lsp::CancellationToken& token) {
  CursorContext out;
  const CompletionSettings settings = this->settings();
  if (!settings.hold_names && settings.declaration_tokens == 0) return out;
  if (!finder_) {
    if (!names_db_ && !index_dir_.empty()) {
      auto opened = indexer::SymbolDatabase::open(indexer::symbol_database_path(index_dir_),
                                                  indexer::SymbolDatabase::OpenMode::kReadOnly);
      if (opened) {
        names_db_ = std::move(opened).value();
        names_index_ = std::make_unique<SymbolDatabaseNames>(*names_db_);
      }
    }
    finder_ = std::make_unique<CursorNameFinder>(compiler_names_, names_index_.get());
  }
  CursorNamesRequest request;
  request.path = file;
  request.root = root_;
  request.file = memory_file_of(file);
  request.text = text;
  request.cursor = cursor;
  const CursorNames names = finder_->find(request, token);
  if (settings.hold_names) out.held = held_names(names, settings);
  if (names_index_ && settings.declaration_tokens > 0) {
    DeclarationBlockRequest block;
    block.text = text;
    block.cursor = cursor;
    block.file = request.file;
    block.names = &names;
    block.budget_tokens = settings.declaration_tokens;
    const auto& tokenizer = *model_->tokenizer;
    out.declarations = declaration_block(*names_index_, block, [&](std::string_view t) {
      return tokenizer.encode(t, false, false).size();
    });
  }
  return out;
}

EngineResult<std::vector<double>> ServeMemory::rank(const ModelRankRequest& request,
                                                    const lsp::CancellationToken& token) {
  const std::lock_guard<std::mutex> lock(completion_mutex_);
  if (!completer_) return EngineError{EngineError::Kind::kInternal, "the memory is not open yet"};
  // The menu's candidates, ranked by the model and their priors as the inline suggestion's
  // names are: held to them, a beam ends each at its identifier.
  const CursorContext context = cursor_context(request.file, request.text, request.cursor, token);
  std::vector<model::WeightedName> candidates;
  for (const std::string& c : request.candidates) {
    const double prior = context.held.names ? context.held.names->weight(c) : 0.0;
    candidates.push_back({c, std::isfinite(prior) ? prior : 0.0});
  }
  CompletionRequest r;
  r.text = request.text;
  r.cursor = request.cursor;
  r.memory_file = memory_file_of(request.file);
  r.max_tokens = 0;
  r.names = std::make_shared<const model::NameSet>(std::move(candidates));
  r.slot = context.held.slot;
  r.ranked_names = request.candidates.size();
  r.context = context.declarations;
  auto ranked = completer_->complete(r, [&] { return token.cancelled(); });
  if (!ranked) return engine_error(ranked.error());
  // The names the beam ranked by its scores; the others below them, in the menu's order.
  std::map<std::string, double> scored;
  double lowest = 0;
  for (const RankedName& n : ranked.value().names) {
    scored.emplace(n.name, n.score);
    lowest = std::min(lowest, n.score);
  }
  std::vector<double> scores;
  for (const std::string& c : request.candidates) {
    const auto found = scored.find(c);
    scores.push_back(found != scored.end() ? found->second : (lowest -= 1.0));
  }
  return scores;
}

EngineResult<std::vector<ModelSuggestion>> ServeMemory::complete(
    const ModelInlineRequest& request, const lsp::CancellationToken& token) {
  const std::lock_guard<std::mutex> lock(completion_mutex_);
  if (!completer_) return EngineError{EngineError::Kind::kInternal, "the memory is not open yet"};
  const CursorContext context = cursor_context(request.file, request.text, request.cursor, token);
  CompletionRequest r;
  r.text = request.text;
  r.cursor = request.cursor;
  r.alternatives = request.alternatives;
  r.ranked_names = request.alternatives;
  r.memory_file = memory_file_of(request.file);
  r.names = context.held.names;
  r.slot = context.held.slot;
  r.context = context.declarations;
  auto result = completer_->complete(r, [&] { return token.cancelled(); });
  if (!result) return engine_error(result.error());
  std::vector<ModelSuggestion> out;
  for (Suggestion& s : result.value().suggestions) out.push_back({std::move(s.text), s.score});
  return out;
}

}  // namespace mnemo::server
