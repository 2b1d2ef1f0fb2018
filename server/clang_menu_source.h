// The SemanticSource of `mnemo serve` (semantic_completion_engine.h): libclang's code
// completion in a parse worker of its own (a crash or hang costs the worker, not the
// server), with the compile commands the indexer uses, and where each name is defined from
// the workspace's symbol index.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "indexer/compile_flags.h"
#include "indexer/parse_worker.h"
#include "indexer/symbol_database.h"
#include "server/semantic_completion_engine.h"

namespace mnemo::server {

/// Thread-safety: any thread; one request at a time (a request that finds the worker busy
/// fails at once, so that the identifiers answer instead of waiting behind it).
class ClangMenuSource {
 public:
  /// `worker_argv`: the parse worker's command line; `index_dir`: the symbol index's folder
  /// (empty: <root>/.mnemo).
  ClangMenuSource(std::vector<std::string> worker_argv, std::filesystem::path index_dir);

  EngineResult<SemanticList> complete(const SemanticQuery& query,
                                      const lsp::CancellationToken& token);

 private:
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
  std::mutex mutex_;
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
};

}  // namespace mnemo::server
