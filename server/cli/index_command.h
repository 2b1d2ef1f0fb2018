// `mnemo index PATH`: brings the repository's symbol index up to date
// (indexer/repository_indexer.h) and its long-term memory (indexer/memory_indexer.h) as the
// configured model reads it (the built-in one unless --model or the settings name another;
// none with --no-model), with a progress bar on a terminal (files/s, MB/s, ETA),
// then prints what it did; `--status` shows what is indexed and how stale it is, parsing
// nothing. Ctrl-C stops after the file in flight; every stored file stays.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/completer/serve_memory.h"
#include "server/workspace/workspace_symbol_index.h"

namespace CLI {
class App;
}

namespace mnemo::server {

struct IndexCommandOptions {
  std::string root = ".";
  std::string index_dir;         ///< empty: <root>/.mnemo
  std::string compile_commands;  ///< folder of compile_commands.json; empty: root, build/
  std::uint64_t max_file_bytes = 1u << 20;
  std::vector<std::string> skip_folders;  ///< added to the walk's vendored/generated list
  double parse_timeout_s = 60;            ///< per file, in the parse worker
  std::size_t jobs = 0;                   ///< files parsed at once; 0: one per hardware thread
  /// Every file also goes into the long-term memory made by this model; empty: the one the
  /// settings name (REPO/.mnemo/config.json, else the built-in model).
  std::string model;
  bool no_model = false;             ///< symbols only: no memory
  std::size_t memory_window = 1024;  ///< tokens of context each file is read in
  bool in_process = false;           ///< hidden: libclang in this process (no worker)
  bool status = false;
  bool json = false;
  int test_file_delay_ms = 0;  ///< hidden: slows each file, so tests can kill a run midway
};

CLI::App* add_index_command(CLI::App& app, IndexCommandOptions& options);

/// The process exit code: 0, 1 when indexing fails (e.g. the index is locked), 2 on bad
/// usage. The report goes to stdout, progress and errors to stderr.
int run_index(const IndexCommandOptions& options);

/// What `mnemo serve` keeps its workspaces' symbol index current with: index_repository
/// into `index_dir` (empty: <root>/.mnemo; a relative one is taken from the current folder),
/// libclang in this executable's parse workers; then, with `memory`, the model's memory of
/// every file (ServeMemory::update) in the same run.
WorkspaceSymbolIndexOptions serve_symbol_index(const std::string& index_dir,
                                               std::shared_ptr<ServeMemory> memory);
/// How `mnemo serve --model` follows open documents' unsaved text into that memory.
UnsavedEditMemoryOptions serve_unsaved_edits(const std::string& index_dir,
                                             std::shared_ptr<ServeMemory> memory);

/// `mnemo parse-worker` (hidden): the indexer's libclang process (indexer/parse_worker.h),
/// which `mnemo index` starts from its own executable.
CLI::App* add_parse_worker_command(CLI::App& app);
int run_parse_worker_command();

}  // namespace mnemo::server
