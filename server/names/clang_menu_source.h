// The SemanticSource of `mnemo serve` (semantic_completion_engine.h): libclang's code
// completion in a parse worker of its own (a crash or hang costs the worker, not the
// server), with the compile commands the indexer uses, and where each name is defined from
// the workspace's symbol index.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "indexer/compile_flags.h"
#include "indexer/parse_worker.h"
#include "indexer/symbol_database.h"
#include "server/completion/semantic_completion_engine.h"

namespace mnemo::server {

/// Thread-safety: any thread; one request at a time (a request that finds the worker busy
/// fails at once, so that the identifiers answer instead of waiting behind it).
class ClangMenuSource {
 public:
  /// `worker_argv`: the parse worker's command line; `index_dir`: the symbol index's folder
  /// (empty: <root>/.mnemo).
  ClangMenuSource(std::vector<std::string> worker_argv, std::filesystem::path index_dir);
  ~ClangMenuSource();
  ClangMenuSource(const ClangMenuSource&) = delete;
  ClangMenuSource& operator=(const ClangMenuSource&) = delete;

  EngineResult<SemanticList> complete(const SemanticQuery& query,
                                      const lsp::CancellationToken& token);
  /// Parses the file on a thread of this object's (the latest file asked for wins), so that
  /// the first request on it does not wait for its headers; returns at once.
  void prepare(const SemanticQuery& query);

 private:
  /// complete() with mutex_ held.
  EngineResult<SemanticList> complete_locked(const SemanticQuery& query);
  /// The compile commands for files under `root`, as the indexer makes them (from a
  /// compile_commands.json, else defaults with the -I folders of the indexed files); made
  /// again when the index or a compile_commands.json changes.
  const indexer::CompileFlags& flags_for(const std::filesystem::path& root);
  /// The symbol index of `root`, opened read-only; null while there is none.
  indexer::SymbolDatabase* database_for(const std::filesystem::path& root);
  /// "Defined in FILE:LINE" when the index knows exactly one definition named so.
  std::string definition_site(const std::filesystem::path& root, const std::string& name);
  std::filesystem::path index_dir_of(const std::filesystem::path& root) const;

  const std::filesystem::path index_dir_;
  // All guarded by mutex_.
  std::timed_mutex mutex_;
  indexer::ParseWorker worker_;
  std::filesystem::path flags_root_;
  std::unique_ptr<indexer::CompileFlags> flags_;
  std::string flags_stamp_;  ///< what the files the flags come from looked like
  std::filesystem::path database_root_;
  std::unique_ptr<indexer::SymbolDatabase> database_;
  /// Files libclang failed on (a timeout, a crash) and when: not asked again before
  /// kRetryAfter, so that each menu request does not wait for the same failure.
  std::map<std::filesystem::path, std::chrono::steady_clock::time_point> failed_;
  static constexpr std::chrono::minutes kRetryAfter{5};

  /// The file waiting to be prepared, and the thread that does it.
  std::mutex pending_mutex_;
  std::condition_variable pending_changed_;
  std::optional<SemanticQuery> pending_;  // guarded by pending_mutex_
  bool stopping_ = false;                 // guarded by pending_mutex_
  std::thread preparer_;
};

}  // namespace mnemo::server
