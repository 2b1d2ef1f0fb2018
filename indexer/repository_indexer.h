// Brings a repository's symbol index up to date: walks the
// repository (repository_walk.h), re-reads only the C-family files whose contents changed
// since they were stored (git blob ids against the index), parses them with libclang
// (clang_symbols.h), stores each file in a transaction of its own (symbol_database.h), and
// forgets the files that are gone. Sources are parsed first, and each parse also records
// the changed headers it includes, so most headers are never parsed alone (parse_order.h).
//
// A run that is killed loses at most the file in flight: every stored file has its hash, so
// the next run skips it and carries on with the rest. The index lives in <root>/.mnemo/ by
// default, guarded by a lock file that only one indexing process holds at a time; readers
// (a second `mnemo serve`) open the database read-only and need no lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "indexer/repository_walk.h"
#include "model/result.h"

namespace mnemo::indexer {

struct IndexOptions {
  std::filesystem::path root;
  /// Where the index lives; empty: <root>/.mnemo.
  std::filesystem::path index_dir;
  WalkOptions walk;
  /// The folder of compile_commands.json; none: the root's, else build/'s, else defaults.
  std::optional<std::filesystem::path> compile_commands_dir;
  /// The parse worker's command line (parse_worker.h; `mnemo index` uses its own
  /// executable's `parse-worker`). Empty: libclang runs in this process, where its crash
  /// recovery is the only protection and a hang has no timeout.
  std::vector<std::string> parse_worker;
  /// With a parse worker: the longest one file may take before its worker is killed.
  std::chrono::milliseconds parse_timeout{60'000};
  /// Files parsed at once (one parse worker, or one libclang index, each).
  std::size_t parse_jobs = 1;
};

/// The index folder of `options` (index_dir, or <root>/.mnemo).
std::filesystem::path index_dir_of(const IndexOptions& options);
/// The symbol database file in an index folder.
std::filesystem::path symbol_database_path(const std::filesystem::path& index_dir);

/// `files` with the headers (.h, .hpp, ...) first, each group in its given order: the
/// memory reads a source's headers before it.
std::vector<WalkedFile> headers_first(std::vector<WalkedFile> files);

struct IndexProgress {
  /// "symbols" (libclang, index_repository) or "memory" (the model, MemoryIndexer).
  std::string stage;
  std::size_t files_total = 0;  ///< files this stage reads (symbols: the C-family ones)
  std::size_t files_done = 0;   ///< read, unchanged or failed so far
  std::uint64_t bytes_total = 0, bytes_done = 0;
  std::int64_t tokens_done = 0;  ///< memory: tokens through the model so far
  double seconds = 0;            ///< since this stage began
  std::string current;           ///< the file being read
};

struct FailedFile {
  std::string path;
  std::string reason;
};

struct IndexReport {
  bool in_git = false;
  std::size_t files_walked = 0;     ///< every file the walk listed
  std::vector<WalkedFile> walked;   ///< those files, for a pass that follows (the memory)
  std::size_t files_total = 0;      ///< of them, C-family
  std::size_t files_indexed = 0;    ///< parsed and stored this run
  std::size_t files_unchanged = 0;  ///< stored with the same contents: skipped
  std::size_t files_removed = 0;    ///< stored, but no longer in the repository
  std::vector<FailedFile> failed;   ///< unreadable, or libclang gave no result
  std::size_t parse_errors = 0;     ///< in the files parsed this run
  std::size_t units_parsed = 0;     ///< libclang parses (each records its changed headers)
  std::uint64_t bytes_parsed = 0;
  bool rebuilt = false;    ///< the index was of another schema version and started over
  bool cancelled = false;  ///< stopped by the cancel flag; the stored files stay
  double walk_seconds = 0, parse_seconds = 0, store_seconds = 0, total_seconds = 0;
};

struct IndexRunError {
  enum class Kind {
    kFailed,
    /// Another process holds the index's lock: it is writing this index now, so a caller
    /// that runs again on the next change (`mnemo serve`) need not treat it as a failure.
    kLocked,
  };
  std::string message;
  Kind kind = Kind::kFailed;
};

/// Indexes what changed. `progress` (may be empty) is called as each parse starts and ends,
/// and at the end; once `*cancel` is set (by the callback, a signal handler, another
/// thread), no further parse is started (the parse_jobs in flight are finished and stored).
/// Fails when the index is locked by another process, cannot be opened, or the root cannot
/// be walked.
model::Result<IndexReport, IndexRunError> index_repository(
    const IndexOptions& options, const std::function<void(const IndexProgress&)>& progress = {},
    const std::atomic<bool>* cancel = nullptr);

/// How the stored index compares with the repository now, without parsing anything.
struct IndexStatus {
  bool exists = false;               ///< an index is there
  std::size_t files_total = 0;       ///< C-family files in the repository now
  std::size_t files_current = 0;     ///< stored with the same contents
  std::vector<std::string> changed;  ///< stored with other contents
  std::vector<std::string> missing;  ///< not stored yet
  std::vector<std::string> removed;  ///< stored, gone from the repository
  /// Seconds since the index was last written (its database or write-ahead log).
  std::optional<double> age_seconds;
};

model::Result<IndexStatus, IndexRunError> index_status(const IndexOptions& options);

}  // namespace mnemo::indexer
