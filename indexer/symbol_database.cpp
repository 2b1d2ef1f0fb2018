#include "indexer/symbol_database.h"

#include <sqlite3.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace mnemo::indexer {
namespace fs = std::filesystem;

const char* to_string(DatabaseErrorKind kind) {
  switch (kind) {
    case DatabaseErrorKind::kCannotOpen:
      return "cannot open";
    case DatabaseErrorKind::kNotADatabase:
      return "not a database";
    case DatabaseErrorKind::kCorrupt:
      return "corrupt";
    case DatabaseErrorKind::kSchemaVersion:
      return "schema version";
    case DatabaseErrorKind::kReadOnly:
      return "read-only";
    case DatabaseErrorKind::kBusy:
      return "busy";
    case DatabaseErrorKind::kFailed:
      return "failed";
  }
  return "?";
}

namespace {

// The schema. Every table names its file by files.id, and deleting a files row deletes the
// rest (ON DELETE CASCADE), so replacing or removing a file is one DELETE. Strings that are
// absent in FileSymbols are '' here, never NULL, so a round trip is exact. Positions are
// 1-based like SourceRange's; "col" because COLUMN is an SQL keyword. kind stays text (not an
// enum number): the index is readable with the sqlite3 shell, and the repeated strings cost
// little beside the USRs.
//
// Every lookup the class offers has its index; the file_id indexes also serve the cascade.
// There is no index on includes.path ("who includes this header") until a query needs one.
constexpr const char* kSchema = R"sql(
CREATE TABLE files(
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  content_hash TEXT NOT NULL,
  parse_errors INTEGER NOT NULL,
  indexed_at INTEGER NOT NULL  -- seconds since 1970 (UTC), for people reading the index
);
CREATE TABLE symbols(
  file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  usr TEXT NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  qualified_name TEXT NOT NULL,
  signature TEXT NOT NULL,
  is_definition INTEGER NOT NULL,
  parent_usr TEXT NOT NULL,
  start_line INTEGER NOT NULL,
  start_col INTEGER NOT NULL,
  end_line INTEGER NOT NULL,
  end_col INTEGER NOT NULL,
  name_line INTEGER NOT NULL,
  name_col INTEGER NOT NULL
);
CREATE INDEX symbols_by_file ON symbols(file_id);
CREATE INDEX symbols_by_name ON symbols(name);
CREATE INDEX symbols_by_qualified_name ON symbols(qualified_name);
CREATE INDEX symbols_by_usr ON symbols(usr);
CREATE INDEX symbols_by_parent ON symbols(parent_usr);
CREATE TABLE refs(
  file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  usr TEXT NOT NULL,
  line INTEGER NOT NULL,
  col INTEGER NOT NULL
);
CREATE INDEX refs_by_file ON refs(file_id);
CREATE INDEX refs_by_usr ON refs(usr);
CREATE TABLE includes(
  file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  line INTEGER NOT NULL,
  resolved INTEGER NOT NULL
);
CREATE INDEX includes_by_file ON includes(file_id);
CREATE TABLE member_uses(
  file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  receiver TEXT NOT NULL,
  access TEXT NOT NULL,  -- 'object' (. and ->) or 'scope' (::)
  member TEXT NOT NULL,
  uses INTEGER NOT NULL
);
CREATE INDEX member_uses_by_file ON member_uses(file_id);
CREATE INDEX member_uses_by_receiver ON member_uses(receiver, access);
)sql";

// A file's rows come back in source order; rowid (insertion order) breaks ties.
constexpr const char* kSelectSymbols =
    "SELECT s.usr, s.kind, s.name, s.qualified_name, s.signature, s.is_definition, "
    "s.parent_usr, s.start_line, s.start_col, s.end_line, s.end_col, s.name_line, s.name_col, "
    "f.path FROM symbols s JOIN files f ON f.id = s.file_id ";
constexpr const char* kSymbolSourceOrder =
    "s.start_line, s.start_col, s.name_line, s.name_col, s.rowid";
constexpr const char* kSelectReferencesInFile =
    "SELECT r.usr, r.line, r.col FROM refs r JOIN files f ON f.id = r.file_id "
    "WHERE f.path = ?1 ORDER BY r.line, r.col, r.rowid";
constexpr const char* kSelectReferencesTo =
    "SELECT f.path, r.line, r.col FROM refs r JOIN files f ON f.id = r.file_id "
    "WHERE r.usr = ?1 ORDER BY f.path, r.line, r.col, r.rowid";
constexpr const char* kSelectIncludes =
    "SELECT i.path, i.line, i.resolved FROM includes i JOIN files f ON f.id = i.file_id "
    "WHERE f.path = ?1 ORDER BY i.line, i.rowid";
constexpr const char* kSelectMemberUsesInFile =
    "SELECT m.receiver, m.access, m.member, m.uses FROM member_uses m "
    "JOIN files f ON f.id = m.file_id WHERE f.path = ?1 ORDER BY m.receiver, m.access, m.member";
constexpr const char* kSelectMembersUsedOn =
    "SELECT m.member, SUM(m.uses) AS n FROM member_uses m JOIN files f ON f.id = m.file_id "
    "WHERE m.receiver = ?1 AND m.access = ?2 AND f.path != ?3 GROUP BY m.member "
    "ORDER BY n DESC, m.member";
constexpr const char* kSelectFile = "SELECT content_hash, parse_errors FROM files WHERE path = ?1";
constexpr const char* kSelectPaths = "SELECT path FROM files ORDER BY path";
constexpr const char* kSelectNames = "SELECT DISTINCT name FROM symbols ORDER BY name";
constexpr const char* kSelectNameFrequencies =
    "SELECT n.name, COUNT(*) AS uses FROM (SELECT DISTINCT usr, name FROM symbols) n "
    "JOIN refs r ON r.usr = n.usr GROUP BY n.name ORDER BY uses DESC, n.name";
constexpr const char* kDeleteFile = "DELETE FROM files WHERE path = ?1";
constexpr const char* kInsertFile =
    "INSERT INTO files(path, content_hash, parse_errors, indexed_at) VALUES(?1, ?2, ?3, ?4)";
constexpr const char* kInsertSymbol =
    "INSERT INTO symbols(file_id, usr, kind, name, qualified_name, signature, is_definition, "
    "parent_usr, start_line, start_col, end_line, end_col, name_line, name_col) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
constexpr const char* kInsertReference =
    "INSERT INTO refs(file_id, usr, line, col) VALUES(?1, ?2, ?3, ?4)";
constexpr const char* kInsertMemberUse =
    "INSERT INTO member_uses(file_id, receiver, access, member, uses) VALUES(?1, ?2, ?3, ?4, ?5)";
constexpr const char* kInsertInclude =
    "INSERT INTO includes(file_id, path, line, resolved) VALUES(?1, ?2, ?3, ?4)";

/// A failure inside this file; each public call turns it into its DatabaseError.
struct Failure {
  DatabaseError error;
};

DatabaseErrorKind kind_of(int rc) {
  switch (rc & 0xff) {  // the primary result code
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return DatabaseErrorKind::kCannotOpen;
    case SQLITE_NOTADB:
      return DatabaseErrorKind::kNotADatabase;
    case SQLITE_CORRUPT:
      return DatabaseErrorKind::kCorrupt;
    case SQLITE_READONLY:
      return DatabaseErrorKind::kReadOnly;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return DatabaseErrorKind::kBusy;
    default:
      return DatabaseErrorKind::kFailed;
  }
}

/// Runs a public call's body: a Failure becomes the call's error, so none leaves the class.
template <class Body>
auto guarded(Body&& body) -> model::Result<decltype(body()), DatabaseError> {
  try {
    if constexpr (std::is_void_v<decltype(body())>) {
      body();
      return model::success();
    } else {
      return body();
    }
  } catch (const Failure& failure) {
    return failure.error;
  }
}

struct ConnectionCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};

/// An sqlite3 connection with its prepared statements, each prepared once and reused.
class Sqlite {
 public:
  explicit Sqlite(fs::path file) : file_(std::move(file)) {}

  /// sqlite3_open_v2, whose handle must be closed even when opening fails.
  void open(int flags) {
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(file_.c_str(), &db, flags, nullptr);
    db_.reset(db);
    check(rc, "opening it");
  }

  sqlite3* get() const { return db_.get(); }
  const fs::path& file() const { return file_; }

  [[noreturn]] void fail(DatabaseErrorKind kind, const std::string& what) const {
    throw Failure{{kind, file_.string() + ": " + what}};
  }
  [[noreturn]] void fail(int rc, const std::string& what) const {
    const char* message = db_ ? sqlite3_errmsg(db_.get()) : sqlite3_errstr(rc);
    fail(kind_of(rc), std::string(message) + " (" + what + ")");
  }
  void check(int rc, const std::string& what) const {
    if (rc != SQLITE_OK) fail(rc, what);
  }
  void exec(const std::string& sql) {
    check(sqlite3_exec(get(), sql.c_str(), nullptr, nullptr, nullptr), sql);
  }

  sqlite3_stmt* statement(const std::string& sql) {
    auto found = statements_.find(sql);
    if (found != statements_.end()) return found->second.get();
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(get(), sql.c_str(), static_cast<int>(sql.size()) + 1,
                                      SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    std::unique_ptr<sqlite3_stmt, StatementFinalizer> prepared(raw);
    check(rc, sql);
    return statements_.emplace(sql, std::move(prepared)).first->second.get();
  }

 private:
  fs::path file_;
  // Declared before the statements, so they are finalized first.
  std::unique_ptr<sqlite3, ConnectionCloser> db_;
  std::unordered_map<std::string, std::unique_ptr<sqlite3_stmt, StatementFinalizer>> statements_;
};

/// One use of a cached statement: parameters bound in order, rows read, and the statement
/// reset when the Query ends. The reset matters beyond reuse: a statement left mid-way holds
/// its read snapshot, and the connection would not see later commits.
class Query {
 public:
  Query(Sqlite& db, const std::string& sql) : db_(db), statement_(db.statement(sql)) {}
  ~Query() { reset(); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  /// `text` must outlive the Query (SQLite reads it in place).
  Query& bind(std::string_view text) {
    const char* data = text.data() != nullptr ? text.data() : "";  // nullptr binds NULL
    db_.check(
        sqlite3_bind_text64(statement_, ++bound_, data, text.size(), SQLITE_STATIC, SQLITE_UTF8),
        "binding a parameter");
    return *this;
  }
  Query& bind(std::int64_t value) {
    db_.check(sqlite3_bind_int64(statement_, ++bound_, value), "binding a parameter");
    return *this;
  }

  /// Steps to the next row: false when there are no more.
  bool next() {
    const int rc = sqlite3_step(statement_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    db_.fail(rc, sqlite3_sql(statement_));
  }
  void run() {
    while (next()) {
    }
  }
  /// Ready to bind and run again.
  void reset() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
    bound_ = 0;
  }

  std::string text(int column) const {
    const auto* data = sqlite3_column_text(statement_, column);  // before _bytes, as documented
    if (data == nullptr) return {};                              // NULL (never stored)
    return std::string(reinterpret_cast<const char*>(data),
                       static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)));
  }
  std::int64_t int64(int column) const { return sqlite3_column_int64(statement_, column); }
  std::uint32_t u32(int column) const { return static_cast<std::uint32_t>(int64(column)); }
  bool flag(int column) const { return int64(column) != 0; }

 private:
  Sqlite& db_;
  sqlite3_stmt* statement_;
  int bound_ = 0;
};

/// A transaction rolled back unless committed: on a Failure, or any exception, the database
/// keeps what it had before.
class Transaction {
 public:
  /// "BEGIN IMMEDIATE" to write: it takes the write lock at once, waiting through the busy
  /// timeout, where a deferred one would fail with SQLITE_BUSY when it first writes.
  /// "BEGIN" to read several statements from one snapshot.
  Transaction(Sqlite& db, const char* begin) : db_(db) { db_.exec(begin); }
  ~Transaction() {
    // SQLite rolls back by itself after some errors (disk full, I/O): then there is no
    // transaction left to end.
    if (!committed_ && sqlite3_get_autocommit(db_.get()) == 0)
      sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit() {
    db_.exec("COMMIT");
    committed_ = true;
  }

 private:
  Sqlite& db_;
  bool committed_ = false;
};

/// What SQLite would misreport: a folder (a disk I/O error, read-only), and a file of a few
/// bytes of anything, which it takes for an empty database (and read-write, overwrites).
void check_existing_file(const Sqlite& db) {
  std::error_code error;
  const fs::file_status status = fs::status(db.file(), error);
  if (fs::is_directory(status)) db.fail(DatabaseErrorKind::kCannotOpen, "a folder, not a file");
  if (!fs::is_regular_file(status)) return;  // missing: created, or SQLite's error
  char header[16] = {};
  std::ifstream in(db.file(), std::ios::binary);
  in.read(header, sizeof header);
  // An empty file is an empty database; unreadable ones are left to SQLite to report.
  if (in.gcount() > 0 && std::memcmp(header, "SQLite format 3", sizeof header) != 0)
    db.fail(DatabaseErrorKind::kNotADatabase,
            "not an SQLite database (it does not begin with \"SQLite format 3\")");
}

int user_version(Sqlite& db) {
  Query query(db, "PRAGMA user_version");
  return query.next() ? static_cast<int>(query.int64(0)) : 0;
}

/// DROP statements for the file's tables and views, other than SQLite's own.
std::vector<std::string> drop_statements(Sqlite& db) {
  Query query(db,
              "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view') "
              "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'");
  std::vector<std::string> drops;
  while (query.next()) {
    std::string quoted;
    for (char c : query.text(1)) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    drops.push_back("DROP " + query.text(0) + " IF EXISTS \"" + quoted + "\"");
  }
  return drops;
}

/// Read-write: creates the schema in a new file, or replaces one of another version; true
/// when something was dropped. Inside one write transaction, so two indexers opening a new
/// file at once create it once.
bool create_schema(Sqlite& db) {
  // Off while tables are dropped, so they drop in any order (their indexes and triggers go
  // with them). open() turns them on afterwards; the pragma is ignored inside a transaction.
  db.exec("PRAGMA foreign_keys = OFF");
  Transaction transaction(db, "BEGIN IMMEDIATE");
  const int version = user_version(db);
  if (version == SymbolDatabase::kSchemaVersion) return false;
  const std::vector<std::string> drops = drop_statements(db);
  for (const std::string& drop : drops) db.exec(drop);
  db.exec(kSchema);
  db.exec("PRAGMA user_version = " + std::to_string(SymbolDatabase::kSchemaVersion));
  transaction.commit();
  return version != 0 || !drops.empty();
}

void check_schema_version(Sqlite& db) {
  const int version = user_version(db);
  if (version == SymbolDatabase::kSchemaVersion) return;
  const std::string reads =
      "this mnemo reads version " + std::to_string(SymbolDatabase::kSchemaVersion);
  if (version == 0)
    db.fail(DatabaseErrorKind::kSchemaVersion,
            "no symbol index yet (schema version 0; " + reads + ")");
  db.fail(DatabaseErrorKind::kSchemaVersion,
          "a symbol index of schema version " + std::to_string(version) + "; " + reads +
              " (the indexer rebuilds it when it opens it read-write)");
}

Symbol read_symbol(const Query& row) {
  Symbol s;
  s.usr = row.text(0);
  s.kind = row.text(1);
  s.name = row.text(2);
  s.qualified_name = row.text(3);
  s.signature = row.text(4);
  s.is_definition = row.flag(5);
  s.parent_usr = row.text(6);
  s.range = {row.u32(7), row.u32(8), row.u32(9), row.u32(10)};
  s.line = row.u32(11);
  s.column = row.u32(12);
  return s;
}

/// The first column of every row `sql` selects, as text.
std::vector<std::string> first_column(Sqlite& db, const char* sql) {
  Query query(db, sql);
  std::vector<std::string> out;
  while (query.next()) out.push_back(query.text(0));
  return out;
}

/// kSelectSymbols WHERE `condition` (on ?1 = `value`) ORDER BY `order`.
std::vector<SymbolInFile> select_symbols(Sqlite& db, const std::string& condition,
                                         const std::string& order, std::string_view value) {
  Query query(db, kSelectSymbols + ("WHERE " + condition) + " ORDER BY " + order);
  query.bind(value);
  std::vector<SymbolInFile> found;
  while (query.next()) found.push_back({query.text(13), read_symbol(query)});
  return found;
}

std::vector<SymbolInFile> lookup_symbols(Sqlite& db, const std::string& condition,
                                         std::string_view value) {
  return select_symbols(db, condition, std::string("f.path, ") + kSymbolSourceOrder, value);
}

std::vector<Symbol> symbols_in(Sqlite& db, std::string_view path) {
  std::vector<Symbol> symbols;
  for (SymbolInFile& found : select_symbols(db, "f.path = ?1", kSymbolSourceOrder, path))
    symbols.push_back(std::move(found.symbol));
  return symbols;
}

std::vector<Reference> references_in(Sqlite& db, std::string_view path) {
  Query query(db, kSelectReferencesInFile);
  query.bind(path);
  std::vector<Reference> references;
  while (query.next()) references.push_back({query.text(0), query.u32(1), query.u32(2)});
  return references;
}

std::vector<Include> includes_in(Sqlite& db, std::string_view path) {
  Query query(db, kSelectIncludes);
  query.bind(path);
  std::vector<Include> includes;
  while (query.next()) includes.push_back({query.text(0), query.u32(1), query.flag(2)});
  return includes;
}

std::vector<MemberUse> member_uses_in(Sqlite& db, std::string_view path) {
  Query query(db, kSelectMemberUsesInFile);
  query.bind(path);
  std::vector<MemberUse> uses;
  while (query.next()) {
    uses.push_back({query.text(0),
                    query.text(1) == "scope" ? MemberAccess::kScope : MemberAccess::kObject,
                    query.text(2), query.u32(3)});
  }
  return uses;
}

std::int64_t seconds_since_epoch() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct SymbolDatabase::Connection {
  Connection(const fs::path& file, OpenMode open_mode) : db(file), mode(open_mode) {}

  void require_writable() const {
    if (mode == OpenMode::kReadOnly)
      db.fail(DatabaseErrorKind::kReadOnly, "opened read-only: the indexer writes it");
  }

  Sqlite db;
  OpenMode mode;
  bool rebuilt = false;
};

SymbolDatabase::SymbolDatabase(std::unique_ptr<Connection> connection)
    : connection_(std::move(connection)) {}

SymbolDatabase::~SymbolDatabase() = default;

model::Result<std::unique_ptr<SymbolDatabase>, DatabaseError> SymbolDatabase::open(
    const fs::path& file, OpenMode mode) {
  return guarded([&] {
    auto connection = std::make_unique<Connection>(file, mode);
    Sqlite& db = connection->db;
    check_existing_file(db);
    // NOMUTEX: the class is used by one thread at a time (see its comment).
    db.open(SQLITE_OPEN_NOMUTEX |
            (mode == OpenMode::kReadOnly ? SQLITE_OPEN_READONLY
                                         : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
    db.check(sqlite3_busy_timeout(db.get(), kBusyTimeoutMs), "setting the busy timeout");
    // The first statement reads the file: SQLite finds most garbage here (kNotADatabase).
    if (mode == OpenMode::kReadWrite) {
      // WAL is a property of the file, kept once set: readers open it in WAL mode too.
      Query query(db, "PRAGMA journal_mode = WAL");
      const std::string journal = query.next() ? query.text(0) : "";
      if (journal != "wal")
        db.fail(DatabaseErrorKind::kFailed, "cannot use write-ahead logging (journal mode is '" +
                                                journal + "'): is it on a network file system?");
    }
    if (mode == OpenMode::kReadWrite) {
      connection->rebuilt = create_schema(db);
    } else {
      check_schema_version(db);
    }
    db.exec("PRAGMA foreign_keys = ON");
    // In WAL mode, NORMAL syncs at checkpoints only: a power loss may lose the last commits
    // (the index is derived data; they are indexed again) but never corrupts the file.
    db.exec("PRAGMA synchronous = NORMAL");
    return std::unique_ptr<SymbolDatabase>(new SymbolDatabase(std::move(connection)));
  });
}

const fs::path& SymbolDatabase::file() const {
  return connection_->db.file();
}
SymbolDatabase::OpenMode SymbolDatabase::mode() const {
  return connection_->mode;
}
bool SymbolDatabase::rebuilt() const {
  return connection_->rebuilt;
}

model::Result<void, DatabaseError> SymbolDatabase::replace_file(const FileSymbols& file) {
  return guarded([&] {
    connection_->require_writable();
    Sqlite& db = connection_->db;
    Transaction transaction(db, "BEGIN IMMEDIATE");
    Query(db, kDeleteFile).bind(file.path).run();  // and, by cascade, all its rows
    Query(db, kInsertFile)
        .bind(file.path)
        .bind(file.content_hash)
        .bind(std::int64_t{file.parse_errors})
        .bind(seconds_since_epoch())
        .run();
    const std::int64_t file_id = sqlite3_last_insert_rowid(db.get());

    Query symbol(db, kInsertSymbol);
    for (const Symbol& s : file.symbols) {
      symbol.bind(file_id).bind(s.usr).bind(s.kind).bind(s.name).bind(s.qualified_name);
      symbol.bind(s.signature).bind(std::int64_t{s.is_definition}).bind(s.parent_usr);
      symbol.bind(std::int64_t{s.range.start_line}).bind(std::int64_t{s.range.start_column});
      symbol.bind(std::int64_t{s.range.end_line}).bind(std::int64_t{s.range.end_column});
      symbol.bind(std::int64_t{s.line}).bind(std::int64_t{s.column});
      symbol.run();
      symbol.reset();
    }
    Query reference(db, kInsertReference);
    for (const Reference& r : file.references) {
      reference.bind(file_id).bind(r.usr).bind(std::int64_t{r.line}).bind(std::int64_t{r.column});
      reference.run();
      reference.reset();
    }
    Query include(db, kInsertInclude);
    for (const Include& i : file.includes) {
      include.bind(file_id).bind(i.path).bind(std::int64_t{i.line}).bind(std::int64_t{i.resolved});
      include.run();
      include.reset();
    }
    Query member_use(db, kInsertMemberUse);
    for (const MemberUse& m : file.member_uses) {
      member_use.bind(file_id).bind(m.receiver).bind(std::string_view(to_string(m.access)));
      member_use.bind(m.member).bind(std::int64_t{m.uses});
      member_use.run();
      member_use.reset();
    }
    transaction.commit();
  });
}

model::Result<bool, DatabaseError> SymbolDatabase::remove_file(std::string_view path) {
  return guarded([&] {
    connection_->require_writable();
    Sqlite& db = connection_->db;
    Query(db, kDeleteFile).bind(path).run();  // one statement: its own transaction
    return sqlite3_changes(db.get()) > 0;     // the files row; cascaded rows are not counted
  });
}

model::Result<std::optional<std::string>, DatabaseError> SymbolDatabase::content_hash(
    std::string_view path) {
  return guarded([&]() -> std::optional<std::string> {
    Query query(connection_->db, kSelectFile);
    query.bind(path);
    if (!query.next()) return std::nullopt;
    return query.text(0);
  });
}

model::Result<std::vector<std::string>, DatabaseError> SymbolDatabase::files() {
  return guarded([&] { return first_column(connection_->db, kSelectPaths); });
}

model::Result<std::vector<std::string>, DatabaseError> SymbolDatabase::symbol_names() {
  return guarded([&] { return first_column(connection_->db, kSelectNames); });
}

model::Result<std::vector<std::pair<std::string, std::uint64_t>>, DatabaseError>
SymbolDatabase::name_frequencies() {
  return guarded([&] {
    Query query(connection_->db, kSelectNameFrequencies);
    std::vector<std::pair<std::string, std::uint64_t>> out;
    while (query.next())
      out.emplace_back(query.text(0), static_cast<std::uint64_t>(query.int64(1)));
    return out;
  });
}

model::Result<std::optional<FileSymbols>, DatabaseError> SymbolDatabase::load_file(
    std::string_view path) {
  return guarded([&]() -> std::optional<FileSymbols> {
    Sqlite& db = connection_->db;
    Transaction snapshot(db, "BEGIN");
    FileSymbols file;
    {
      Query query(db, kSelectFile);
      query.bind(path);
      if (!query.next()) return std::nullopt;
      file.path = std::string(path);
      file.content_hash = query.text(0);
      file.parse_errors = query.u32(1);
    }
    file.symbols = symbols_in(db, path);
    file.references = references_in(db, path);
    file.includes = includes_in(db, path);
    file.member_uses = member_uses_in(db, path);
    snapshot.commit();
    return file;
  });
}

model::Result<std::vector<Symbol>, DatabaseError> SymbolDatabase::symbols_in_file(
    std::string_view path) {
  return guarded([&] { return symbols_in(connection_->db, path); });
}

model::Result<std::vector<Reference>, DatabaseError> SymbolDatabase::references_in_file(
    std::string_view path) {
  return guarded([&] { return references_in(connection_->db, path); });
}

model::Result<std::vector<Include>, DatabaseError> SymbolDatabase::includes_of_file(
    std::string_view path) {
  return guarded([&] { return includes_in(connection_->db, path); });
}

model::Result<std::vector<SymbolInFile>, DatabaseError> SymbolDatabase::symbols_named(
    std::string_view name) {
  return guarded([&] { return lookup_symbols(connection_->db, "s.name = ?1", name); });
}

model::Result<std::vector<SymbolInFile>, DatabaseError> SymbolDatabase::symbols_qualified(
    std::string_view qualified_name) {
  return guarded(
      [&] { return lookup_symbols(connection_->db, "s.qualified_name = ?1", qualified_name); });
}

model::Result<std::vector<SymbolInFile>, DatabaseError> SymbolDatabase::symbols_of_kind(
    std::string_view kind) {
  return guarded([&] { return lookup_symbols(connection_->db, "s.kind = ?1", kind); });
}

model::Result<std::vector<SymbolInFile>, DatabaseError> SymbolDatabase::declarations_of(
    std::string_view usr) {
  return guarded([&] {
    return select_symbols(connection_->db, "s.usr = ?1",
                          std::string("s.is_definition DESC, f.path, ") + kSymbolSourceOrder, usr);
  });
}

model::Result<std::vector<SymbolInFile>, DatabaseError> SymbolDatabase::members_of(
    std::string_view parent_usr) {
  return guarded([&] { return lookup_symbols(connection_->db, "s.parent_usr = ?1", parent_usr); });
}

model::Result<std::vector<std::pair<std::string, std::uint64_t>>, DatabaseError>
SymbolDatabase::members_used_on(std::string_view receiver, MemberAccess access,
                                std::string_view except_file) {
  return guarded([&] {
    Query query(connection_->db, kSelectMembersUsedOn);
    query.bind(receiver).bind(std::string_view(to_string(access))).bind(except_file);
    std::vector<std::pair<std::string, std::uint64_t>> out;
    while (query.next())
      out.emplace_back(query.text(0), static_cast<std::uint64_t>(query.int64(1)));
    return out;
  });
}

model::Result<std::vector<ReferenceInFile>, DatabaseError> SymbolDatabase::references_to(
    std::string_view usr) {
  return guarded([&] {
    Query query(connection_->db, kSelectReferencesTo);
    query.bind(usr);
    std::vector<ReferenceInFile> found;
    while (query.next()) found.push_back({query.text(0), query.u32(1), query.u32(2)});
    return found;
  });
}

}  // namespace mnemo::indexer
