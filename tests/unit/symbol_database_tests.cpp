// The symbol index in SQLite (indexer/symbol_database.h): files round-trip exactly and are
// replaced whole; lookups by name, qualified name, USR and parent; WAL and the schema
// version; files that are not an index; and what a read-only connection sees while a writer
// works, fails or crashes half-way.
//
// Failures are arranged through the test's own SQLite connection: a trigger that aborts an
// insert, or one that calls back into the test in the middle of a write (a function that
// sqlite3_auto_extension adds to every connection opened, the database's own included).
#include <gtest/gtest.h>

#include <sqlite3.h>
#include <algorithm>
#include <map>

#include <csignal>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "indexer/symbol_database.h"
#include "tests/support/temp_dir.h"

namespace mnemo::indexer {

// Outside the unnamed namespace, where gtest looks for it (beside the type).
void PrintTo(DatabaseErrorKind kind, std::ostream* out) {
  *out << to_string(kind);
}

namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using OpenMode = SymbolDatabase::OpenMode;

// --- the fixture program: geo/point.h, src/point.cpp and src/main.cpp ---

/// A fixture's symbol: its name is the last part of its qualified name.
Symbol symbol(const std::string& usr, const std::string& kind, const std::string& qualified_name,
              const std::string& signature, bool definition, const std::string& parent_usr,
              SourceRange range, std::uint32_t line, std::uint32_t column) {
  const std::size_t colons = qualified_name.rfind("::");
  const std::string name =
      colons == std::string::npos ? qualified_name : qualified_name.substr(colons + 2);
  return {usr, kind, name, qualified_name, signature, definition, parent_usr, range, line, column};
}

constexpr const char* kGeo = "c:@N@geo";
constexpr const char* kPoint = "c:@N@geo@S@Point";
constexpr const char* kX = "c:@N@geo@S@Point@FI@x";
constexpr const char* kNorm = "c:@N@geo@S@Point@F@norm#1";
constexpr const char* kSqrt = "c:@N@std@F@sqrt#d#";
constexpr const char* kMain = "c:@F@main#";

// 1 #pragma once
// 2 namespace geo {
// 3 struct Point {
// 4   double x;
// 5   double norm() const;
// 6 };
// 7 }  // namespace geo
FileSymbols point_header() {
  FileSymbols f;
  f.path = "geo/point.h";
  f.content_hash = "8f1d2b6c0a0e5d1b9a3c4e7f6a5b4c3d2e1f0a9b";
  f.symbols = {
      // usr, kind, qualified name, signature, definition, parent, range, name at
      symbol(kGeo, "namespace", "geo", "namespace geo", true, "", {2, 1, 7, 2}, 2, 11),
      symbol(kPoint, "struct", "geo::Point", "struct Point", true, kGeo, {3, 1, 6, 2}, 3, 8),
      symbol(kX, "field", "geo::Point::x", "double x", true, kPoint, {4, 3, 4, 11}, 4, 10),
      symbol(kNorm, "method", "geo::Point::norm", "double norm() const", false, kPoint,
             {5, 3, 5, 22}, 5, 10),
  };
  return f;
}

// 1 #include "geo/point.h"
// 2 #include <cmath>
// 3 double geo::Point::norm() const { return std::sqrt(x * x); }
FileSymbols point_source() {
  FileSymbols f;
  f.path = "src/point.cpp";
  f.content_hash = "0123456789abcdef0123456789abcdef01234567";
  f.symbols = {symbol(kNorm, "method", "geo::Point::norm", "double norm() const", true, kPoint,
                      {3, 1, 3, 61}, 3, 20)};
  f.references = {
      {kGeo, 3, 8}, {kPoint, 3, 13}, {"c:@N@std", 3, 42}, {kSqrt, 3, 47}, {kX, 3, 52}, {kX, 3, 56},
  };
  f.includes = {{"geo/point.h", 1, true}, {"/usr/include/c++/12/cmath", 2, true}};
  return f;
}

// 1 #include "geo/point.h"
// 2 int main() { geo::Point p{3.0}; return p.norm() > p.x; }
FileSymbols main_source() {
  FileSymbols f;
  f.path = "src/main.cpp";
  f.content_hash = "fedcba9876543210fedcba9876543210fedcba98";
  f.symbols = {symbol(kMain, "function", "main", "int main()", true, "", {2, 1, 2, 57}, 2, 5)};
  f.references = {{kGeo, 2, 14}, {kPoint, 2, 19}, {kNorm, 2, 42}, {kX, 2, 53}};
  f.includes = {{"geo/point.h", 1, true}};
  return f;
}

// --- comparing what comes back: every field, printed, so a failure shows the difference ---

std::string describe(const Symbol& s) {
  std::ostringstream out;
  out << s.kind << " '" << s.name << "' '" << s.qualified_name << "' '" << s.signature
      << "' usr=" << s.usr << " parent=" << s.parent_usr
      << (s.is_definition ? " definition " : " declaration ") << s.range.start_line << ':'
      << s.range.start_column << '-' << s.range.end_line << ':' << s.range.end_column << " name at "
      << s.line << ':' << s.column;
  return out.str();
}

std::string describe(const Reference& r) {
  return r.usr + " at " + std::to_string(r.line) + ":" + std::to_string(r.column);
}

std::string describe(const Include& i) {
  return "'" + i.path + "' line " + std::to_string(i.line) +
         (i.resolved ? " resolved" : " not found");
}

std::string describe(const MemberUse& m) {
  return m.receiver + " " + to_string(m.access) + " " + m.member + " x" + std::to_string(m.uses);
}

std::string describe(const SymbolInFile& s) {
  return s.file + ": " + describe(s.symbol);
}

/// How a lookup describes `symbol` found in `file`.
std::string found(const std::string& file, const Symbol& symbol) {
  return describe(SymbolInFile{file, symbol});
}

std::string describe(const ReferenceInFile& r) {
  return r.file + ":" + std::to_string(r.line) + ":" + std::to_string(r.column);
}

template <class T>
std::vector<std::string> describe(const std::vector<T>& items) {
  std::vector<std::string> out;
  for (const T& item : items) out.push_back(describe(item));
  return out;
}

std::vector<std::string> describe(const FileSymbols& f) {
  std::vector<std::string> out = {"path " + f.path, "hash " + f.content_hash,
                                  "parse errors " + std::to_string(f.parse_errors)};
  for (const std::string& line : describe(f.symbols)) out.push_back("symbol " + line);
  for (const std::string& line : describe(f.references)) out.push_back("reference " + line);
  for (const std::string& line : describe(f.includes)) out.push_back("include " + line);
  for (const std::string& line : describe(f.member_uses)) out.push_back("member use " + line);
  return out;
}

std::vector<std::string> describe(const std::optional<FileSymbols>& f) {
  return f ? describe(*f) : std::vector<std::string>{"(not stored)"};
}

// --- results: a test stops at the first unexpected error, with its message ---

template <class T>
T ok(model::Result<T, DatabaseError> result) {
  if (!result)
    throw std::runtime_error(std::string(to_string(result.error().kind)) + ": " +
                             result.error().message);
  return std::move(result).value();  // T may be void
}

template <class T>
DatabaseError error_of(model::Result<T, DatabaseError> result) {
  if (result) throw std::runtime_error("succeeded where an error was expected");
  return result.error();
}

std::unique_ptr<SymbolDatabase> open(const fs::path& file, OpenMode mode = OpenMode::kReadWrite) {
  return ok(SymbolDatabase::open(file, mode));
}

/// The test's own connection to the index file, for what SymbolDatabase does not offer:
/// pragmas, row counts, tables of another schema, triggers that break a write.
class RawConnection {
 public:
  explicit RawConnection(const fs::path& file) {
    if (sqlite3_open(file.c_str(), &db_) != SQLITE_OK) throw std::runtime_error(message());
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawConnection() { sqlite3_close(db_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  void exec(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      throw std::runtime_error(sql + ": " + message());
  }
  /// The first column of the first row, as text.
  std::string scalar(const std::string& sql) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK)
      throw std::runtime_error(sql + ": " + message());
    std::string value;
    if (sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_text(statement, 0) != nullptr)
      value = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    sqlite3_finalize(statement);
    return value;
  }

 private:
  std::string message() const { return db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory"; }
  sqlite3* db_ = nullptr;
};

/// Rows in each table, "files symbols refs includes".
std::string row_counts(const fs::path& file) {
  RawConnection raw(file);
  std::string counts;
  for (const char* table : {"files", "symbols", "refs", "includes"})
    counts +=
        (counts.empty() ? "" : " ") + raw.scalar(std::string("SELECT count(*) FROM ") + table);
  return counts;
}

/// Makes any insert of a symbol named `name` fail mid-transaction.
void fail_inserts_of(const fs::path& file, const std::string& name) {
  RawConnection(file).exec("CREATE TRIGGER fail_insert BEFORE INSERT ON symbols WHEN NEW.name = '" +
                           name + "' BEGIN SELECT RAISE(ABORT, 'forced failure'); END");
}

// --- calling back into the test in the middle of a write ---

std::function<void()> midway_callback;

void call_midway(sqlite3_context* context, int, sqlite3_value**) {
  if (midway_callback) midway_callback();
  sqlite3_result_null(context);
}

int add_midway_function(sqlite3* db, char**, const sqlite3_api_routines*) {
  return sqlite3_create_function(db, "mnemo_test_midway", 0, SQLITE_UTF8, nullptr, call_midway,
                                 nullptr, nullptr);
}

/// While it lives, every connection opened gets an SQL function mnemo_test_midway() that
/// runs `callback`; call_midway_on_insert_of() plants a trigger that calls it. Connections
/// that prepare an insert into symbols must be opened after it.
class Midway {
 public:
  explicit Midway(std::function<void()> callback) {
    midway_callback = std::move(callback);
    sqlite3_auto_extension(entry_point());
  }
  ~Midway() {
    sqlite3_cancel_auto_extension(entry_point());
    midway_callback = nullptr;
  }
  Midway(const Midway&) = delete;
  Midway& operator=(const Midway&) = delete;

  static void call_midway_on_insert_of(const fs::path& file, const std::string& name) {
    RawConnection(file).exec("CREATE TRIGGER midway AFTER INSERT ON symbols WHEN NEW.name = '" +
                             name + "' BEGIN SELECT mnemo_test_midway(); END");
  }

 private:
  // SQLite's documented way: the entry point is passed as void (*)(void) and called as what
  // it is.
  using EntryPoint = void (*)();
  static EntryPoint entry_point() { return reinterpret_cast<EntryPoint>(&add_midway_function); }
};

/// point_source() rewritten: other symbols, fewer references and includes, and a symbol
/// named `middle_name` between two others (a write can be made to fail or pause there).
FileSymbols point_source_v2(const std::string& middle_name = "norm_squared") {
  FileSymbols f = point_source();
  f.content_hash = "76543210fedcba9876543210fedcba9876543210";
  auto function = [](const std::string& name, const std::string& signature, std::uint32_t line) {
    return symbol("c:@N@geo@F@" + name, "function", "geo::" + name, signature, true, kGeo,
                  {line, 1, line, 40}, line, 8);
  };
  f.symbols.push_back(function(middle_name, "double " + middle_name + "(Point)", 4));
  f.symbols.push_back(function("dot", "double dot(Point, Point)", 5));
  f.references = {{kX, 4, 30}};
  f.includes = {{"geo/point.h", 1, true}};
  return f;
}

class SymbolDatabaseTest : public ::testing::Test {
 protected:
  fs::path index_file() const { return dir_.path() / "index.db"; }

  /// The fixture program stored through a writer that is closed again.
  void store_program() {
    auto db = open(index_file());
    for (const FileSymbols& f : {point_header(), point_source(), main_source()})
      ok(db->replace_file(f));
  }

  std::unique_ptr<SymbolDatabase> program_reader() {
    store_program();
    return open(index_file(), OpenMode::kReadOnly);
  }

  TempDir dir_;
};

// --- round trips ---

TEST_F(SymbolDatabaseTest, AFilesSymbolsReferencesAndIncludesRoundTripExactly) {
  FileSymbols f;
  f.path = "src/ünïcode/名前.cpp";
  f.content_hash = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
  f.parse_errors = 3;
  f.symbols = {
      symbol("c:@N@mathe@F@größe#", "function", "mathe::größe", "double größe(double π)", true,
             "c:@N@mathe", {1, 1, 1, 30}, 1, 15),
      symbol("c:@greeting", "variable", "greeting", R"(const char* greeting = "it's \"quoted\"")",
             false, "", {2, 1, 2, 40}, 2, 13),
      symbol("c:@'); DROP TABLE symbols; --", "macro", "'); DROP TABLE symbols; --", "", false, "",
             {3, 9, 3, 30}, 3, 9),
      symbol(std::string("c:@nul\0byte", 11), "variable", std::string("a\0b", 3), "", true, "",
             {4294967294u, 1, 4294967295u, 4294967295u}, 4294967295u, 4294967295u),
  };
  f.symbols[2].qualified_name.clear();  // empty strings come back empty, not NULL
  f.references = {{"c:@N@mathe@F@größe#", 5, 3}, {"c:@greeting", 5, 20}, {"c:@greeting", 6, 1}};
  f.includes = {{"mathe/größe.h", 1, true}, {R"(he"llo'.h)", 2, false}, {"/abs/π.h", 3, true}};
  f.member_uses = {{"mathe", MemberAccess::kScope, "größe", 4294967295u},
                   {"p", MemberAccess::kObject, "größe", 2},
                   {"p", MemberAccess::kObject, "x", 1}};

  auto db = open(index_file());
  ok(db->replace_file(f));

  EXPECT_EQ(describe(ok(db->load_file(f.path))), describe(f));
  EXPECT_EQ(describe(ok(db->symbols_in_file(f.path))), describe(f.symbols));
  EXPECT_EQ(describe(ok(db->references_in_file(f.path))), describe(f.references));
  EXPECT_EQ(describe(ok(db->includes_of_file(f.path))), describe(f.includes));
  // And through a fresh connection: nothing was only cached.
  db.reset();
  EXPECT_EQ(describe(ok(open(index_file(), OpenMode::kReadOnly)->load_file(f.path))), describe(f));
}

TEST_F(SymbolDatabaseTest, AFilesRowsComeBackInSourceOrder) {
  FileSymbols f;
  f.path = "order.cpp";
  auto variable = [](const char* name, SourceRange range, std::uint32_t name_column) {
    return Symbol{std::string("c:@") + name, "variable", name, name, "int", true, "", range,
                  range.start_line,          name_column};
  };
  // `int a, b;` on line 1 (ranges start alike; names tell them apart), two symbols at the same
  // place (kept in the order given) and one on line 0, given last.
  f.symbols = {variable("second_same_place", {2, 1, 2, 9}, 5), variable("b", {1, 1, 1, 9}, 8),
               variable("a", {1, 1, 1, 6}, 5), variable("third_same_place", {2, 1, 2, 9}, 5),
               variable("first_line", {0, 4, 0, 9}, 4)};
  f.references = {{"c:@b", 3, 8}, {"c:@a", 3, 1}, {"c:@z", 2, 9}};
  f.includes = {{"late.h", 9, false}, {"early.h", 1, true}};

  auto db = open(index_file());
  ok(db->replace_file(f));

  std::vector<std::string> names;
  for (const Symbol& s : ok(db->symbols_in_file(f.path))) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"first_line", "a", "b", "second_same_place",
                                             "third_same_place"}));
  EXPECT_EQ(describe(ok(db->references_in_file(f.path))),
            (std::vector<std::string>{"c:@z at 2:9", "c:@a at 3:1", "c:@b at 3:8"}));
  EXPECT_EQ(describe(ok(db->includes_of_file(f.path))),
            (std::vector<std::string>{"'early.h' line 1 resolved", "'late.h' line 9 not found"}));
}

// --- replacing and removing files ---

TEST_F(SymbolDatabaseTest, ReplacingAFileRemovesItsOldRowsAndLeavesOtherFilesUntouched) {
  store_program();
  EXPECT_EQ(row_counts(index_file()), "3 6 10 3");
  auto db = open(index_file());

  ok(db->replace_file(point_source_v2()));

  EXPECT_EQ(describe(ok(db->load_file("src/point.cpp"))), describe(point_source_v2()));
  EXPECT_EQ(describe(ok(db->load_file("geo/point.h"))), describe(point_header()));
  EXPECT_EQ(describe(ok(db->load_file("src/main.cpp"))), describe(main_source()));
  EXPECT_EQ(ok(db->files()),
            (std::vector<std::string>{"geo/point.h", "src/main.cpp", "src/point.cpp"}));
  // No row of the old version is left anywhere (4 + 1 + 3 symbols, 4 + 1 references,
  // 1 + 1 includes).
  EXPECT_EQ(row_counts(index_file()), "3 8 5 2");
  EXPECT_TRUE(ok(db->references_to(kSqrt)).empty());
}

TEST_F(SymbolDatabaseTest, RemovingAFileDeletesAllItsRowsAndOnlyThose) {
  store_program();
  auto db = open(index_file());

  EXPECT_TRUE(ok(db->remove_file("src/point.cpp")));
  EXPECT_FALSE(ok(db->remove_file("src/point.cpp")));
  EXPECT_FALSE(ok(db->remove_file("never/stored.cpp")));

  EXPECT_EQ(ok(db->files()), (std::vector<std::string>{"geo/point.h", "src/main.cpp"}));
  EXPECT_EQ(ok(db->load_file("src/point.cpp")), std::nullopt);
  EXPECT_EQ(describe(ok(db->load_file("geo/point.h"))), describe(point_header()));
  EXPECT_EQ(describe(ok(db->load_file("src/main.cpp"))), describe(main_source()));
  EXPECT_EQ(row_counts(index_file()), "2 5 4 1");  // the cascade reached every table
}

TEST_F(SymbolDatabaseTest, ContentHashIsTheStoredHashOrNothingForAFileNotStored) {
  auto db = open(index_file());
  EXPECT_EQ(ok(db->content_hash("src/point.cpp")), std::nullopt);

  ok(db->replace_file(point_source()));
  EXPECT_EQ(ok(db->content_hash("src/point.cpp")), point_source().content_hash);
  EXPECT_EQ(ok(db->content_hash("src/point.h")), std::nullopt);

  ok(db->replace_file(point_source_v2()));
  EXPECT_EQ(ok(db->content_hash("src/point.cpp")), point_source_v2().content_hash);

  ok(db->remove_file("src/point.cpp"));
  EXPECT_EQ(ok(db->content_hash("src/point.cpp")), std::nullopt);
}

TEST_F(SymbolDatabaseTest, AFailedInsertMidTransactionLeavesTheOldVersion) {
  store_program();
  fail_inserts_of(index_file(), "boom");
  auto db = open(index_file());

  // The file's old rows are deleted and some new ones inserted before "boom" fails.
  const DatabaseError error = error_of(db->replace_file(point_source_v2("boom")));
  EXPECT_EQ(error.kind, DatabaseErrorKind::kFailed);
  EXPECT_NE(error.message.find("forced failure"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find(index_file().string()), std::string::npos) << error.message;

  EXPECT_EQ(describe(ok(db->load_file("src/point.cpp"))), describe(point_source()));
  EXPECT_EQ(row_counts(index_file()), "3 6 10 3");
  EXPECT_EQ(describe(ok(open(index_file(), OpenMode::kReadOnly)->load_file("src/point.cpp"))),
            describe(point_source()));
  // The failed transaction was ended: the next write goes through.
  ok(db->replace_file(point_source_v2()));
  EXPECT_EQ(describe(ok(db->load_file("src/point.cpp"))), describe(point_source_v2()));
}

TEST_F(SymbolDatabaseTest, ACrashMidTransactionLeavesTheOldVersion) {
  store_program();
  Midway::call_midway_on_insert_of(index_file(), "crash_here");

  EXPECT_EXIT(
      {
        Midway crash([] { std::raise(SIGKILL); });
        (void)open(index_file())->replace_file(point_source_v2("crash_here"));
      },
      ::testing::KilledBySignal(SIGKILL), "");

  // What the indexer finds when it starts again, and what a reader finds.
  auto db = open(index_file());
  EXPECT_FALSE(db->rebuilt());
  EXPECT_EQ(describe(ok(db->load_file("src/point.cpp"))), describe(point_source()));
  EXPECT_EQ(describe(ok(open(index_file(), OpenMode::kReadOnly)->load_file("src/point.cpp"))),
            describe(point_source()));
  EXPECT_EQ(row_counts(index_file()), "3 6 10 3");
}

// --- lookups ---

TEST_F(SymbolDatabaseTest, SymbolsNamedFindsEveryDeclarationOfExactlyThatName) {
  auto db = program_reader();

  const auto header = point_header().symbols;
  const auto source = point_source().symbols;
  EXPECT_EQ(describe(ok(db->symbols_named("norm"))),
            (std::vector<std::string>{found("geo/point.h", header[3]),
                                      found("src/point.cpp", source[0])}));
  EXPECT_EQ(describe(ok(db->symbols_named("Point"))),
            (std::vector<std::string>{found("geo/point.h", header[1])}));
  EXPECT_TRUE(ok(db->symbols_named("nor")).empty());
  EXPECT_TRUE(ok(db->symbols_named("NORM")).empty());
  EXPECT_TRUE(ok(db->symbols_named("geo::Point")).empty());
}

TEST_F(SymbolDatabaseTest, SymbolNamesListEveryNameOnceSorted) {
  auto db = program_reader();
  std::vector<std::string> expected;
  for (const auto& file : {point_header(), point_source(), main_source()})
    for (const Symbol& s : file.symbols) expected.push_back(s.name);
  std::sort(expected.begin(), expected.end());
  expected.erase(std::unique(expected.begin(), expected.end()), expected.end());
  EXPECT_EQ(ok(db->symbol_names()), expected);
  EXPECT_NE(std::find(expected.begin(), expected.end(), "norm"), expected.end());
}

TEST_F(SymbolDatabaseTest, NameFrequenciesCountTheReferencesToEachNameMostUsedFirst) {
  auto db = program_reader();
  std::map<std::string, std::string> name_of;  // usr -> name
  for (const auto& file : {point_header(), point_source(), main_source()})
    for (const Symbol& s : file.symbols) name_of[s.usr] = s.name;
  std::map<std::string, std::uint64_t> expected;
  for (const auto& file : {point_header(), point_source(), main_source()})
    for (const Reference& r : file.references)
      if (name_of.count(r.usr) != 0) ++expected[name_of[r.usr]];
  ASSERT_FALSE(expected.empty());
  const auto frequencies = ok(db->name_frequencies());
  const std::map<std::string, std::uint64_t> counted(frequencies.begin(), frequencies.end());
  EXPECT_EQ(counted, expected);
  for (std::size_t i = 1; i < frequencies.size(); ++i)
    EXPECT_GE(frequencies[i - 1].second, frequencies[i].second);
}

TEST_F(SymbolDatabaseTest, SymbolsQualifiedFindsExactlyThatQualifiedName) {
  auto db = program_reader();

  EXPECT_EQ(describe(ok(db->symbols_qualified("geo::Point::x"))),
            (std::vector<std::string>{found("geo/point.h", point_header().symbols[2])}));
  EXPECT_EQ(ok(db->symbols_qualified("geo::Point::norm")).size(), 2u);
  EXPECT_TRUE(ok(db->symbols_qualified("x")).empty());
  EXPECT_TRUE(ok(db->symbols_qualified("Point::x")).empty());
}

TEST_F(SymbolDatabaseTest, DeclarationsOfAUsrListTheDefinitionFirstWithItsFile) {
  auto db = program_reader();

  // By path the header's declaration would come first.
  EXPECT_EQ(describe(ok(db->declarations_of(kNorm))),
            (std::vector<std::string>{found("src/point.cpp", point_source().symbols[0]),
                                      found("geo/point.h", point_header().symbols[3])}));
  EXPECT_EQ(ok(db->declarations_of(kMain)).size(), 1u);
  EXPECT_TRUE(ok(db->declarations_of(kSqrt)).empty());  // referenced, not declared here
}

TEST_F(SymbolDatabaseTest, MembersOfAParentAreFoundInEveryFile) {
  auto db = program_reader();

  std::vector<std::string> members;
  for (const SymbolInFile& m : ok(db->members_of(kPoint)))
    members.push_back(m.file + " " + m.symbol.qualified_name);
  EXPECT_EQ(members,
            (std::vector<std::string>{"geo/point.h geo::Point::x", "geo/point.h geo::Point::norm",
                                      "src/point.cpp geo::Point::norm"}));
  members.clear();
  for (const SymbolInFile& m : ok(db->members_of(kGeo))) members.push_back(m.symbol.name);
  EXPECT_EQ(members, (std::vector<std::string>{"Point"}));
  EXPECT_TRUE(ok(db->members_of(kX)).empty());
}

TEST_F(SymbolDatabaseTest, MembersUsedOnAReceiverAreSummedOverEveryFileButTheOneLeftOut) {
  auto db = open(index_file());
  FileSymbols a = point_source(), b = main_source();
  a.member_uses = {{"p", MemberAccess::kObject, "norm", 2},
                   {"p", MemberAccess::kObject, "x", 1},
                   {"geo", MemberAccess::kScope, "Point", 1}};
  b.member_uses = {{"p", MemberAccess::kObject, "x", 3}, {"q", MemberAccess::kObject, "norm", 5}};
  ok(db->replace_file(a));
  ok(db->replace_file(b));

  using Counts = std::vector<std::pair<std::string, std::uint64_t>>;
  EXPECT_EQ(ok(db->members_used_on("p", MemberAccess::kObject, "")),
            (Counts{{"x", 4}, {"norm", 2}}));
  EXPECT_EQ(ok(db->members_used_on("p", MemberAccess::kObject, b.path)),
            (Counts{{"norm", 2}, {"x", 1}}));
  EXPECT_EQ(ok(db->members_used_on("geo", MemberAccess::kScope, "")), (Counts{{"Point", 1}}));
  EXPECT_TRUE(ok(db->members_used_on("geo", MemberAccess::kObject, "")).empty());
  // Replacing a file replaces its counts.
  b.member_uses.clear();
  ok(db->replace_file(b));
  EXPECT_EQ(ok(db->members_used_on("p", MemberAccess::kObject, "")),
            (Counts{{"norm", 2}, {"x", 1}}));
}

TEST_F(SymbolDatabaseTest, ReferencesToAUsrNameTheirFilesAndPositions) {
  auto db = program_reader();

  EXPECT_EQ(
      describe(ok(db->references_to(kX))),
      (std::vector<std::string>{"src/main.cpp:2:53", "src/point.cpp:3:52", "src/point.cpp:3:56"}));
  EXPECT_EQ(describe(ok(db->references_to(kSqrt))),
            (std::vector<std::string>{"src/point.cpp:3:47"}));
  EXPECT_TRUE(ok(db->references_to(kMain)).empty());
}

// --- the file: journal mode, schema version, what is not an index ---

TEST_F(SymbolDatabaseTest, ANewIndexIsInWalModeWithTheSchemaVersion) {
  auto db = open(index_file());
  EXPECT_FALSE(db->rebuilt());
  EXPECT_EQ(db->file(), index_file());
  EXPECT_EQ(db->mode(), OpenMode::kReadWrite);

  RawConnection raw(index_file());
  EXPECT_EQ(raw.scalar("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.scalar("PRAGMA user_version"), std::to_string(SymbolDatabase::kSchemaVersion));
  // files, symbols, refs, includes, member_uses
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table'"), "5");
}

TEST_F(SymbolDatabaseTest, ReopeningAnIndexOfThisVersionKeepsIt) {
  store_program();
  auto db = open(index_file());
  EXPECT_FALSE(db->rebuilt());
  EXPECT_EQ(ok(db->files()).size(), 3u);
}

TEST_F(SymbolDatabaseTest, AnIndexOfAnotherSchemaVersionIsRebuiltReadWrite) {
  store_program();
  RawConnection(index_file())
      .exec(
          "PRAGMA user_version = 99; CREATE TABLE legacy(x REFERENCES files(id));"
          "CREATE VIEW legacy_view AS SELECT * FROM legacy");

  auto db = open(index_file());
  EXPECT_TRUE(db->rebuilt());
  EXPECT_TRUE(ok(db->files()).empty());
  RawConnection raw(index_file());
  EXPECT_EQ(raw.scalar("PRAGMA user_version"), std::to_string(SymbolDatabase::kSchemaVersion));
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM sqlite_master WHERE name LIKE 'legacy%'"), "0");

  ok(db->replace_file(point_header()));
  EXPECT_EQ(describe(ok(db->load_file("geo/point.h"))), describe(point_header()));
}

TEST_F(SymbolDatabaseTest, AnSqliteFileOfOtherTablesIsRebuiltReadWrite) {
  RawConnection(index_file()).exec("CREATE TABLE notes(text)");  // user_version 0
  auto db = open(index_file());
  EXPECT_TRUE(db->rebuilt());
  EXPECT_EQ(
      RawConnection(index_file()).scalar("SELECT count(*) FROM sqlite_master WHERE name = 'notes'"),
      "0");
}

TEST_F(SymbolDatabaseTest, AnIndexOfAnotherSchemaVersionIsRefusedReadOnly) {
  store_program();
  RawConnection(index_file()).exec("PRAGMA user_version = 99");

  const DatabaseError error = error_of(SymbolDatabase::open(index_file(), OpenMode::kReadOnly));
  EXPECT_EQ(error.kind, DatabaseErrorKind::kSchemaVersion);
  EXPECT_NE(error.message.find(index_file().string()), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("99"), std::string::npos) << error.message;
  // Left as it was.
  EXPECT_EQ(RawConnection(index_file()).scalar("PRAGMA user_version"), "99");
  EXPECT_EQ(row_counts(index_file()), "3 6 10 3");
}

TEST_F(SymbolDatabaseTest, AnEmptyFileIsRefusedReadOnlyAndBecomesAnIndexReadWrite) {
  dir_.write("index.db", "");
  const DatabaseError error = error_of(SymbolDatabase::open(index_file(), OpenMode::kReadOnly));
  EXPECT_EQ(error.kind, DatabaseErrorKind::kSchemaVersion);
  EXPECT_NE(error.message.find("no symbol index"), std::string::npos) << error.message;

  auto db = open(index_file());
  EXPECT_FALSE(db->rebuilt());
  ok(db->replace_file(point_header()));
  EXPECT_EQ(ok(open(index_file(), OpenMode::kReadOnly)->files()),
            (std::vector<std::string>{"geo/point.h"}));
}

TEST_F(SymbolDatabaseTest, GarbageBytesAreAClearErrorNamingTheFileInEitherMode) {
  std::string random(4096, '\0');
  unsigned state = 12345;
  for (char& c : random) c = static_cast<char>((state = state * 1103515245u + 12345u) >> 16);
  std::string text;
  for (int i = 0; i < 200; ++i) text += "this is not a database\n";
  // SQLite itself takes a file of a byte or so for an empty database.
  for (const std::string& garbage : {random, text, std::string("x"), std::string("SQLite")}) {
    const fs::path file = dir_.write("garbage.db", garbage);
    for (OpenMode mode : {OpenMode::kReadWrite, OpenMode::kReadOnly}) {
      const DatabaseError error = error_of(SymbolDatabase::open(file, mode));
      EXPECT_EQ(error.kind, DatabaseErrorKind::kNotADatabase) << error.message;
      EXPECT_NE(error.message.find(file.string()), std::string::npos) << error.message;
      EXPECT_NE(error.message.find("not a"), std::string::npos) << error.message;
    }
    std::ifstream in(file, std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), garbage) << "overwritten";
  }
}

TEST_F(SymbolDatabaseTest, AFolderIsAClearErrorInEitherMode) {
  for (OpenMode mode : {OpenMode::kReadWrite, OpenMode::kReadOnly}) {
    const DatabaseError error = error_of(SymbolDatabase::open(dir_.path(), mode));
    EXPECT_EQ(error.kind, DatabaseErrorKind::kCannotOpen) << error.message;
    EXPECT_NE(error.message.find(dir_.path().string()), std::string::npos) << error.message;
  }
}

TEST_F(SymbolDatabaseTest, AMissingFileIsAnErrorReadOnlyAndCreatedReadWrite) {
  const DatabaseError error = error_of(SymbolDatabase::open(index_file(), OpenMode::kReadOnly));
  EXPECT_EQ(error.kind, DatabaseErrorKind::kCannotOpen);
  EXPECT_NE(error.message.find(index_file().string()), std::string::npos) << error.message;
  EXPECT_FALSE(fs::exists(index_file()));

  const fs::path no_folder = dir_.path() / "missing" / "index.db";
  EXPECT_EQ(error_of(SymbolDatabase::open(no_folder, OpenMode::kReadWrite)).kind,
            DatabaseErrorKind::kCannotOpen);

  open(index_file());
  EXPECT_TRUE(fs::exists(index_file()));
}

// --- a reader beside the writer ---

TEST_F(SymbolDatabaseTest, AReadOnlyConnectionSeesWhatTheWriterCommitted) {
  auto writer = open(index_file());
  auto reader = open(index_file(), OpenMode::kReadOnly);
  EXPECT_TRUE(ok(reader->files()).empty());

  ok(writer->replace_file(point_source()));
  EXPECT_EQ(describe(ok(reader->load_file("src/point.cpp"))), describe(point_source()));
  // The reader's earlier queries hold no snapshot: it sees each later commit.
  ok(writer->replace_file(point_source_v2()));
  EXPECT_EQ(describe(ok(reader->load_file("src/point.cpp"))), describe(point_source_v2()));
  EXPECT_EQ(ok(reader->content_hash("src/point.cpp")), point_source_v2().content_hash);
  ok(writer->remove_file("src/point.cpp"));
  EXPECT_EQ(ok(reader->content_hash("src/point.cpp")), std::nullopt);
}

TEST_F(SymbolDatabaseTest, AReadOnlyConnectionNeverSeesAHalfWrittenFile) {
  store_program();
  std::vector<std::string> seen_midway;
  int pauses = 0;
  std::unique_ptr<SymbolDatabase> reader;
  Midway midway([&] {
    ++pauses;
    try {  // an exception must not unwind through SQLite
      seen_midway = describe(ok(reader->load_file("src/point.cpp")));
      EXPECT_TRUE(ok(reader->symbols_named("paused_here")).empty());
      EXPECT_EQ(ok(reader->references_to(kSqrt)).size(), 1u);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  });
  Midway::call_midway_on_insert_of(index_file(), "paused_here");
  auto writer = open(index_file());
  reader = open(index_file(), OpenMode::kReadOnly);

  ok(writer->replace_file(point_source_v2("paused_here")));

  EXPECT_EQ(pauses, 1);
  EXPECT_EQ(seen_midway, describe(point_source()));
  EXPECT_EQ(describe(ok(reader->load_file("src/point.cpp"))),
            describe(point_source_v2("paused_here")));
}

TEST_F(SymbolDatabaseTest, AReadOnlyConnectionOpensAnIndexNoWriterHasOpen) {
  store_program();  // the writer is closed: SQLite has removed the -wal and -shm files
  auto reader = open(index_file(), OpenMode::kReadOnly);
  EXPECT_EQ(reader->mode(), OpenMode::kReadOnly);
  EXPECT_EQ(describe(ok(reader->load_file("geo/point.h"))), describe(point_header()));
}

TEST_F(SymbolDatabaseTest, AReadOnlyConnectionRefusesToWrite) {
  store_program();
  auto reader = open(index_file(), OpenMode::kReadOnly);
  EXPECT_EQ(error_of(reader->replace_file(point_source_v2())).kind, DatabaseErrorKind::kReadOnly);
  EXPECT_EQ(error_of(reader->remove_file("src/point.cpp")).kind, DatabaseErrorKind::kReadOnly);
  EXPECT_EQ(row_counts(index_file()), "3 6 10 3");
}

}  // namespace
}  // namespace mnemo::indexer
