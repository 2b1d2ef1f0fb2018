// Where the indexer keeps what it read: every file's symbols, references
// and includes (file_symbols.h) in one SQLite file, so a restart re-reads only the files
// that changed and a second `mnemo serve` can answer from the index another process writes.
//
// The index is derived data. SQLite in WAL mode lets one writer and any number of readers,
// in this process or others, work at once; each file is replaced in one transaction, so a
// reader sees a file's old rows or its new ones, never a mix, and a crash mid-way leaves the
// old ones. The schema carries a version (PRAGMA user_version): the indexer drops an index
// of another version and starts over, a reader refuses it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "indexer/file_symbols.h"
#include "model/result.h"

namespace mnemo::indexer {

enum class DatabaseErrorKind {
  kCannotOpen,     ///< missing (read-only), a folder, unreadable, or its folder is missing
  kNotADatabase,   ///< not an SQLite file (garbage bytes): never overwritten
  kCorrupt,        ///< an SQLite file with damaged pages
  kSchemaVersion,  ///< read-only: written by another schema version, or no index yet
  kReadOnly,       ///< a write through a read-only connection, or to a read-only file
  kBusy,           ///< another connection held its lock past the busy timeout
  kFailed,         ///< anything else SQLite reports: I/O error, disk full, a constraint
};

const char* to_string(DatabaseErrorKind kind);

struct DatabaseError {
  DatabaseErrorKind kind;
  std::string message;  ///< names the database file and what failed, with SQLite's words
};

/// A symbol found by a lookup, with the file that declares it.
struct SymbolInFile {
  std::string file;  ///< as FileSymbols::path
  Symbol symbol;
};

/// A reference found by a lookup: where a symbol is used.
struct ReferenceInFile {
  std::string file;  ///< as FileSymbols::path
  std::uint32_t line = 0, column = 0;
};

/// One connection to the index file.
///
/// Thread-safety: none inside. An object is one SQLite connection with its cached prepared
/// statements; even queries change it (hence non-const), so a thread uses its own object or
/// holds a lock around every call. Any number of objects, in any processes, may be open on
/// one file: readers never wait; writers take turns, each waiting up to kBusyTimeoutMs.
///
/// Every call reports failure as a DatabaseError and leaves the database as it was; no call
/// throws (short of running out of memory).
class SymbolDatabase {
 public:
  enum class OpenMode {
    kReadWrite,  ///< the indexer: creates the file and schema, rebuilds another version
    kReadOnly,   ///< a server reading the index another process writes; the file must exist
  };

  /// Bumped whenever a table changes; an index of another version is rebuilt from scratch.
  static constexpr int kSchemaVersion = 2;
  /// How long a write waits for another process's write to finish.
  static constexpr int kBusyTimeoutMs = 5000;

  /// Opens `file`. Read-write creates it if missing (not its folder) with the schema, and
  /// drops and recreates an index of another schema version (then rebuilt() is true);
  /// read-only refuses one (kSchemaVersion). A file that is not an SQLite database is an
  /// error in either mode (kNotADatabase) and is left as it is.
  static model::Result<std::unique_ptr<SymbolDatabase>, DatabaseError> open(
      const std::filesystem::path& file, OpenMode mode);

  ~SymbolDatabase();
  SymbolDatabase(const SymbolDatabase&) = delete;
  SymbolDatabase& operator=(const SymbolDatabase&) = delete;

  const std::filesystem::path& file() const;
  OpenMode mode() const;
  /// open() found an index of another schema version (or tables of something else) and
  /// dropped it: every file must be indexed again.
  bool rebuilt() const;

  // --- writing (read-write only; kReadOnly otherwise) ---

  /// Stores `symbols` as everything known of the file at symbols.path, in one transaction
  /// that first deletes what was stored of it before. On failure the old version remains.
  model::Result<void, DatabaseError> replace_file(const FileSymbols& symbols);
  /// Deletes a file and all its rows; true if it was stored.
  model::Result<bool, DatabaseError> remove_file(std::string_view path);

  // --- reading (either mode). Each call reads one snapshot: what was last committed. ---

  /// The stored FileSymbols::content_hash of a file; nothing if the file is not stored. The
  /// indexer skips a file whose hash has not changed.
  model::Result<std::optional<std::string>, DatabaseError> content_hash(std::string_view path);
  /// The stored files' paths, sorted.
  model::Result<std::vector<std::string>, DatabaseError> files();
  /// Everything stored of one file, as replace_file was given it (the symbols, references
  /// and includes in source order), read in one snapshot; nothing if it is not stored.
  model::Result<std::optional<FileSymbols>, DatabaseError> load_file(std::string_view path);

  /// Source order is by position (a symbol's by the start of its range, then of its name),
  /// ties kept in the order replace_file was given them; empty for a file not stored.
  model::Result<std::vector<Symbol>, DatabaseError> symbols_in_file(std::string_view path);
  model::Result<std::vector<Reference>, DatabaseError> references_in_file(std::string_view path);
  model::Result<std::vector<Include>, DatabaseError> includes_of_file(std::string_view path);

  // Lookups across files, sorted by file path, then in source order.

  /// Every distinct Symbol::name, sorted: the repository's identifiers.
  model::Result<std::vector<std::string>, DatabaseError> symbol_names();
  /// How often each name is used: the references to the symbols so named, most used first
  /// (ties by name); names never referred to are left out.
  model::Result<std::vector<std::pair<std::string, std::uint64_t>>, DatabaseError>
  name_frequencies();
  /// Symbols whose Symbol::name is exactly `name` ("norm").
  model::Result<std::vector<SymbolInFile>, DatabaseError> symbols_named(std::string_view name);
  /// Symbols whose Symbol::qualified_name is exactly `qualified_name` ("geo::Point::norm").
  model::Result<std::vector<SymbolInFile>, DatabaseError> symbols_qualified(
      std::string_view qualified_name);
  /// Symbols whose Symbol::kind is `kind` ("field").
  model::Result<std::vector<SymbolInFile>, DatabaseError> symbols_of_kind(std::string_view kind);
  /// Every declaration of one entity, definitions first.
  model::Result<std::vector<SymbolInFile>, DatabaseError> declarations_of(std::string_view usr);
  /// Symbols declared in the record, enum or namespace `parent_usr`, wherever they are (an
  /// out-of-line method definition counts, in its own file).
  model::Result<std::vector<SymbolInFile>, DatabaseError> members_of(std::string_view parent_usr);
  /// The members written after `receiver` with `access` (`sbi->...`), with how often, in
  /// every file but `except_file` (the document being edited, whose stored text is stale);
  /// most used first, ties by name.
  model::Result<std::vector<std::pair<std::string, std::uint64_t>>, DatabaseError> members_used_on(
      std::string_view receiver, MemberAccess access, std::string_view except_file);
  /// Every reference to one entity.
  model::Result<std::vector<ReferenceInFile>, DatabaseError> references_to(std::string_view usr);

 private:
  struct Connection;
  explicit SymbolDatabase(std::unique_ptr<Connection> connection);

  std::unique_ptr<Connection> connection_;
};

}  // namespace mnemo::indexer
