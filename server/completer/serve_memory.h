// The long-term memory `mnemo serve --model M` keeps current: after
// each symbol run the workspace's files go through the model into <index>/memory (only what
// changed), and an open document's unsaved text replaces its file's segment once the user
// pauses (UnsavedEditMemory). One MemoryIndexer serves both; it is opened on first use and
// held for the process, so its store's lock keeps a second server (or `mnemo index`) from
// writing the same memory while this one runs. The same memory answers completions: the
// indexer mirrors every change into the tier the model reads (ModelCompleter).
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "indexer/memory_indexer.h"
#include "indexer/symbol_database.h"
#include "server/completer/held_names.h"
#include "server/completer/model_completer.h"
#include "server/completion/completion_settings.h"
#include "server/completion/model_completion_engine.h"
#include "server/names/cursor_names.h"
#include "server/names/symbol_database_names.h"
#include "server/workspace/unsaved_edit_memory.h"
#include "server/workspace/workspace_symbol_index.h"

namespace mnemo::server {

/// Thread-safety: every method may be called from any thread; they take turns (one mutex),
/// so a document's update waits for a workspace run's file in flight, not for the run.
class ServeMemory {
 public:
  /// The first settings that name a model bind this object to them (the model, the memory's
  /// window, top-k and budget, the prompt's budgets): every session of the process reads the
  /// same memory. Later settings without a model change nothing; ones naming another model
  /// or other memory or prompt values get an error saying that a restart is needed.
  std::optional<std::string> configure(const CompletionSettings& settings);
  /// A model is configured (update() and update_file() have work to do).
  bool has_model() const;
  /// Where the names at a cursor come from besides the symbol index: libclang's (the
  /// menu's source). Set before the first completion; empty: the index alone.
  void set_compiler_names(SemanticSource source);

  /// Brings the memory of `root` (in `index_dir`) up to date with `files` on disk (the
  /// symbol run's walk).
  model::Result<indexer::MemoryIndexReport, indexer::IndexRunError> update(
      const std::filesystem::path& root, const std::filesystem::path& index_dir,
      const std::vector<indexer::WalkedFile>& files, const SymbolIndexProgress& progress,
      const std::atomic<bool>& cancel);
  /// One file's segment from `text` (an editor's unsaved contents).
  model::Result<indexer::MemoryIndexer::FileUpdate, indexer::IndexRunError> update_file(
      const std::filesystem::path& index_dir, const std::string& path, const std::string& text);

  /// The model's suggestions at a cursor of `request.file`, reading the memory as it is now
  /// (the file itself left out: its text is the prompt). Waits for a completion in flight
  /// and for one file of an index run, not for the run. An error until the first index run
  /// has opened the memory; kCancelled once `token` is.
  EngineResult<std::vector<ModelSuggestion>> complete(const ModelInlineRequest& request,
                                                      const lsp::CancellationToken& token);
  /// The model's log-probability of each menu candidate at the cursor (ModelCompleter::
  /// score), reading the memory as complete() does; the same errors.
  EngineResult<std::vector<double>> rank(const ModelRankRequest& request,
                                         const lsp::CancellationToken& token);

 private:
  /// `file`'s path in the memory (relative to the root); empty outside it. Requires
  /// completion_mutex_ held.
  std::string memory_file_of(const std::filesystem::path& file) const;
  /// The completer prefers the index's names from now on (with an identifier boost).
  void refresh_identifiers(const std::filesystem::path& index_dir);
  /// The indexer for `index_dir`, loading the model the first time; requires mutex_ held.
  model::Result<indexer::MemoryIndexer*, indexer::IndexRunError> open(
      const std::filesystem::path& index_dir);

  CompletionSettings settings() const;

  /// What a completion at `cursor` of `file` is given besides its text: the names its first
  /// identifier is held to, and the declarations block. Requires completion_mutex_ held.
  struct CursorContext {
    HeldNames held;
    std::string declarations;
  };
  CursorContext cursor_context(const std::filesystem::path& file, const std::string& text,
                               std::size_t cursor, const lsp::CancellationToken& token);

  mutable std::mutex settings_mutex_;
  std::optional<CompletionSettings> settings_;  // guarded by settings_mutex_; set once
  std::mutex mutex_;
  std::optional<model::LoadedModel> model_;          // guarded by mutex_
  std::filesystem::path opened_dir_;                 // guarded by mutex_
  std::unique_ptr<indexer::MemoryIndexer> indexer_;  // guarded by mutex_

  /// Guards what completions read: the completer, the memory the indexer mirrors into its
  /// tier, and the root its files are relative to.
  std::mutex completion_mutex_;
  std::unique_ptr<ModelCompleter> completer_;
  std::filesystem::path root_;
  std::filesystem::path index_dir_;
  SemanticSource compiler_names_;
  /// The symbol index the names are read from (opened on first use, read-only), and what
  /// reads it; the index run forgets what it has read.
  std::unique_ptr<indexer::SymbolDatabase> names_db_;
  std::unique_ptr<SymbolDatabaseNames> names_index_;
  std::unique_ptr<CursorNameFinder> finder_;
};

/// Where and how the memory in `index_dir` is read with `settings` (its window, top-k and
/// RAM budget): the one place serve, complete and eval take them from.
indexer::MemoryIndexOptions memory_options(const CompletionSettings& settings,
                                           const std::filesystem::path& index_dir);

/// The names of the symbol index in `index_dir` (symbols.sqlite), for the identifier bias.
Result<std::shared_ptr<const model::KnownIdentifiers>, std::string> repository_identifiers(
    const std::filesystem::path& index_dir);

/// The model's name in a memory's header: its file name and size (a folder's: its name, its
/// weights' size and its config.json's hash), so that a memory made by another model, or
/// another build of it, is made anew.
std::string memory_model_id(const std::filesystem::path& model_path);

}  // namespace mnemo::server
