// Keeps the workspace's symbol index current while `mnemo serve` runs:
// the first workspace root is indexed once the session is initialized, and again
// whenever a file inside it is saved or changes on disk, each run shown as an LSP progress
// bar that the client may cancel. The indexer is injected (SymbolIndexRun): lsp/ never sees
// indexer/, and the server library and its tests link neither libclang nor libgit2 (the
// `mnemo` executable supplies indexer::index_repository, see index_command.h).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "indexer/repository_indexer.h"
#include "lsp/language_server.h"
#include "model/result.h"

namespace mnemo::server {

struct SymbolIndexFailure {
  enum class Kind {
    kFailed,
    /// Another process holds the index's lock: it is writing the same index, so this
    /// session keeps serving and tries again only on the next change.
    kLockedByAnotherProcess,
  };
  Kind kind = Kind::kFailed;
  std::string message;
};

using SymbolIndexProgress = std::function<void(const indexer::IndexProgress&)>;
/// One incremental run over `root` (indexer::index_repository in `mnemo serve`, a double in
/// tests). Calls `progress` before each file; stops starting files once `cancel` is set.
using SymbolIndexRun = std::function<model::Result<indexer::IndexReport, SymbolIndexFailure>(
    const std::filesystem::path& root, const SymbolIndexProgress& progress,
    const std::atomic<bool>& cancel)>;

struct WorkspaceSymbolIndexOptions {
  SymbolIndexRun run;
  /// The index folder, whose own files changing must not start a run; empty: <root>/.mnemo.
  std::filesystem::path index_dir;
  /// Asked when the client is initialized (after the settings): true when the run also
  /// keeps the model's memory, which holds every text file, so the client watches every
  /// file; otherwise (or none) it watches the C/C++ sources and headers.
  std::function<bool()> watch_every_file;
};

/// Thread-safety: construct and destroy on the io thread before LanguageServer::start() and
/// after the session ended; its LSP hooks run on the io thread. Runs happen one at a time on
/// a thread of its own (never on the completion workers, so indexing cannot delay a
/// completion); a change during a run is remembered and gives exactly one more run after it.
/// stop() runs on the owner's thread (the io thread in a session); wait_idle() on any.
class WorkspaceSymbolIndex {
 public:
  WorkspaceSymbolIndex(lsp::LanguageServer& server, WorkspaceSymbolIndexOptions options);
  ~WorkspaceSymbolIndex();
  WorkspaceSymbolIndex(const WorkspaceSymbolIndex&) = delete;
  WorkspaceSymbolIndex& operator=(const WorkspaceSymbolIndex&) = delete;

  /// Cancels the run in progress (the files in flight finish) and joins the thread.
  void stop();
  /// For tests: true once no run is in progress or pending, false after `timeout`.
  bool wait_idle(std::chrono::milliseconds timeout);

 private:
  void start(const lsp::ClientInfo& client);
  void register_file_watchers(const lsp::ClientInfo& client);
  void paths_changed(const std::vector<std::filesystem::path>& paths);
  void request_run();
  void loop();
  void run_once();

  lsp::LanguageServer& server_;
  const WorkspaceSymbolIndexOptions options_;
  // Set on the io thread by start() before the thread exists; read-only afterwards.
  std::filesystem::path root_;
  std::filesystem::path index_dir_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool pending_ = false;   // guarded by mutex_: a run is wanted
  bool running_ = false;   // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  /// The current run's stop flag: set by stop() and by the client's cancel button. Reset
  /// (under mutex_) before each run, unless stopping.
  std::atomic<bool> cancel_{false};
  std::thread thread_;
};

}  // namespace mnemo::server
