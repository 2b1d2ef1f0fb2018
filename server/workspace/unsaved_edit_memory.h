// Brings an open document's long-term memory segment up to date with its unsaved text once
// the user pauses typing: the memory should hold what the user sees, not
// the file as last saved. Every didOpen/didChange restarts that document's timer; when
// `debounce` passes without another change, its latest text is handed to `encode` on a
// thread of this object's own, one document at a time. Saved files reach the memory through
// the workspace runs (WorkspaceSymbolIndex); this covers the time in between.
//
// The encoder is injected, like the symbol indexer: lsp/ never sees the model, and the server
// library and its tests need no LibTorch (`mnemo serve --model` supplies ServeMemory).
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "lsp/language_server.h"

namespace mnemo::server {

/// Encodes `text` as the contents of `path` (relative to `root`, as the walk names it) into
/// the memory; an error message when it could not.
using EncodeDocument = std::function<std::optional<std::string>(
    const std::filesystem::path& root, const std::string& path, const std::string& text)>;

struct UnsavedEditMemoryOptions {
  EncodeDocument encode;  ///< empty: unsaved edits are not followed
  /// How long the user must pause before the text is encoded: long enough not to encode
  /// every keystroke, short enough that the memory follows within about a second.
  std::chrono::milliseconds debounce{300};
};

/// Thread-safety: construct and destroy on the io thread before LanguageServer::start() and
/// after the session ended; its LSP hooks run on the io thread; encoding runs on its own
/// thread. stop() on the owner's thread; wait_idle() on any.
class UnsavedEditMemory {
 public:
  UnsavedEditMemory(lsp::LanguageServer& server, UnsavedEditMemoryOptions options);
  ~UnsavedEditMemory();
  UnsavedEditMemory(const UnsavedEditMemory&) = delete;
  UnsavedEditMemory& operator=(const UnsavedEditMemory&) = delete;

  /// Drops what is waiting (the next workspace run reads the files from disk) and joins.
  void stop();
  /// For tests: true once nothing waits or is being encoded, false after `timeout`.
  bool wait_idle(std::chrono::milliseconds timeout);

 private:
  using Clock = std::chrono::steady_clock;
  struct Pending {
    std::string text;
    Clock::time_point due;
    bool from_disk = false;  ///< closed unsaved: the file's own contents
  };
  void edited(const lsp::DocumentSnapshot& snapshot);
  /// Closed without saving: the file on disk is the truth again.
  void closed(const std::string& uri);
  void schedule(const std::string& uri, std::string text, Clock::time_point due, bool from_disk);
  void loop();

  const UnsavedEditMemoryOptions options_;
  std::filesystem::path root_;  // set on the io thread by on_initialized; read-only after

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Pending> pending_;  // guarded by mutex_: by relative path
  bool encoding_ = false;                   // guarded by mutex_
  bool stopping_ = false;                   // guarded by mutex_
  std::thread thread_;
};

}  // namespace mnemo::server
