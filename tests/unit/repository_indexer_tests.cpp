// Indexing a repository into the symbol index (indexer/repository_indexer.h): which files
// are parsed, what a second run re-reads, what a cancelled run keeps, the lock, the status.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "indexer/repository_indexer.h"
#include "indexer/symbol_database.h"
#include "tests/support/temp_dir.h"

namespace mnemo::indexer {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

class RepositoryIndexerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.write("geo/point.h",
                "#pragma once\nnamespace geo {\nstruct Point { double norm() const; };\n}\n");
    repo_.write("geo/point.cpp",
                "#include \"geo/point.h\"\ndouble geo::Point::norm() const { return 0; }\n");
    repo_.write("app/main.cpp", "#include \"geo/point.h\"\nint main() { return 0; }\n");
    repo_.write("README.md", "# not C++\n");
    repo_.write("tools/run.py", "print('not C++')\n");
    options_.root = repo_.path();
  }

  IndexReport run(const std::function<void(const IndexProgress&)>& progress = {},
                  const std::atomic<bool>* cancel = nullptr) {
    auto report = index_repository(options_, progress, cancel);
    EXPECT_TRUE(report) << (report ? "" : report.error().message);
    return report ? report.value() : IndexReport{};
  }

  std::vector<std::string> stored_files() {
    auto db = SymbolDatabase::open(symbol_database_path(repo_.path() / ".mnemo"),
                                   SymbolDatabase::OpenMode::kReadOnly);
    EXPECT_TRUE(db);
    if (!db) return {};
    auto files = db.value()->files();
    return files ? files.value() : std::vector<std::string>{};
  }

  TempDir repo_;
  IndexOptions options_;
};

TEST_F(RepositoryIndexerTest, SourcesAreParsedFirstAndRecordTheHeadersTheyInclude) {
  std::vector<std::string> order;
  const IndexReport r = run([&](const IndexProgress& p) {
    if (!p.current.empty()) order.push_back(p.current);
  });
  EXPECT_EQ(r.files_walked, 5u);
  EXPECT_EQ(r.files_total, 3u);
  EXPECT_EQ(r.files_indexed, 3u);
  EXPECT_EQ(r.units_parsed, 2u);  // point.h came with main.cpp
  EXPECT_EQ(r.parse_errors, 0u);
  EXPECT_TRUE(r.failed.empty());
  EXPECT_EQ(order, (std::vector<std::string>{"app/main.cpp", "geo/point.cpp"}));
  EXPECT_EQ(stored_files(),
            (std::vector<std::string>{"app/main.cpp", "geo/point.cpp", "geo/point.h"}));

  auto db = SymbolDatabase::open(symbol_database_path(repo_.path() / ".mnemo"),
                                 SymbolDatabase::OpenMode::kReadOnly);
  ASSERT_TRUE(db);
  auto norm = db.value()->symbols_qualified("geo::Point::norm");
  ASSERT_TRUE(norm);
  ASSERT_EQ(norm.value().size(), 2u);  // the declaration and the definition
  EXPECT_EQ(norm.value()[0].file, "geo/point.cpp");
  EXPECT_EQ(norm.value()[1].file, "geo/point.h");
}

TEST_F(RepositoryIndexerTest, TheMemberAccessesOfEveryFileAreStoredWithIt) {
  repo_.write("app/use.cpp",
              "#include \"geo/point.h\"\ndouble f(geo::Point p) { return p.norm() + p.norm(); }\n");
  // A header recorded by another file's parse gets its member accesses too.
  repo_.write("geo/point.h",
              "#pragma once\nnamespace geo {\nstruct Point { double norm() const; };\n"
              "inline double twice(Point p) { return 2 * p.norm(); }\n}\n");
  run();
  auto db = SymbolDatabase::open(symbol_database_path(repo_.path() / ".mnemo"),
                                 SymbolDatabase::OpenMode::kReadOnly);
  ASSERT_TRUE(db);
  using Counts = std::vector<std::pair<std::string, std::uint64_t>>;
  auto on_p = db.value()->members_used_on("p", MemberAccess::kObject, "");
  ASSERT_TRUE(on_p);
  EXPECT_EQ(on_p.value(), (Counts{{"norm", 3}}));
  auto in_header = db.value()->members_used_on("p", MemberAccess::kObject, "app/use.cpp");
  ASSERT_TRUE(in_header);
  EXPECT_EQ(in_header.value(), (Counts{{"norm", 1}}));
  auto on_geo = db.value()->members_used_on("geo", MemberAccess::kScope, "");
  ASSERT_TRUE(on_geo);
  // `geo::Point::norm`: `Point::norm` is Point's.
  EXPECT_EQ(on_geo.value(), (Counts{{"Point", 2}}));
}

TEST_F(RepositoryIndexerTest, ASecondRunReparsesOnlyWhatChangedAndForgetsWhatIsGone) {
  run();
  repo_.write("app/main.cpp", "#include \"geo/point.h\"\nint main() { return 1; }\n");
  fs::remove(repo_.path() / "geo/point.cpp");
  repo_.write("app/extra.cpp", "int extra() { return 2; }\n");
  std::vector<std::string> parsed;
  const IndexReport r = run();
  EXPECT_EQ(r.files_total, 3u);
  EXPECT_EQ(r.files_indexed, 2u);  // main.cpp changed, extra.cpp is new
  EXPECT_EQ(r.files_unchanged, 1u);
  EXPECT_EQ(r.files_removed, 1u);
  EXPECT_EQ(stored_files(),
            (std::vector<std::string>{"app/extra.cpp", "app/main.cpp", "geo/point.h"}));

  const IndexReport again = run();
  EXPECT_EQ(again.files_indexed, 0u);
  EXPECT_EQ(again.files_unchanged, 3u);
}

TEST_F(RepositoryIndexerTest, AStoppedRunKeepsWhatItFinishedAndTheNextRunDoesTheRest) {
  std::atomic<bool> cancel{false};
  const IndexReport first = run(
      [&](const IndexProgress& p) {
        if (p.files_done == 2) cancel.store(true);  // stop after the second file
      },
      &cancel);
  EXPECT_TRUE(first.cancelled);
  EXPECT_EQ(first.files_indexed, 2u);
  EXPECT_EQ(stored_files().size(), 2u);

  const IndexReport second = run();
  EXPECT_FALSE(second.cancelled);
  EXPECT_EQ(second.files_unchanged, 2u);
  EXPECT_EQ(second.files_indexed, 1u);
  EXPECT_EQ(stored_files().size(), 3u);
}

TEST_F(RepositoryIndexerTest, OnlyOneIndexerWritesAnIndexAtATime) {
  std::string nested_error;
  std::optional<IndexRunError::Kind> nested_kind;
  run([&](const IndexProgress& p) {
    if (p.files_done != 0 || !nested_error.empty()) return;
    auto nested = index_repository(options_);  // a second writer while the first holds the lock
    nested_error = nested ? "it ran" : nested.error().message;
    if (!nested) nested_kind = nested.error().kind;
  });
  EXPECT_NE(nested_error.find("another process is indexing"), std::string::npos) << nested_error;
  EXPECT_EQ(nested_kind, IndexRunError::Kind::kLocked);
  // The lock goes with the run: the next one proceeds.
  EXPECT_EQ(run().files_unchanged, 3u);
}

TEST_F(RepositoryIndexerTest, TheStatusTellsCurrentChangedMissingAndRemovedFiles) {
  auto before = index_status(options_);
  ASSERT_TRUE(before);
  EXPECT_FALSE(before.value().exists);
  EXPECT_EQ(before.value().missing.size(), 3u);

  run();
  repo_.write("app/main.cpp", "int main() { return 3; }\n");
  repo_.write("app/new.cpp", "int fresh();\n");
  fs::remove(repo_.path() / "geo/point.cpp");
  auto status = index_status(options_);
  ASSERT_TRUE(status) << status.error().message;
  const IndexStatus& s = status.value();
  EXPECT_TRUE(s.exists);
  EXPECT_EQ(s.files_total, 3u);
  EXPECT_EQ(s.files_current, 1u);
  EXPECT_EQ(s.changed, std::vector<std::string>{"app/main.cpp"});
  EXPECT_EQ(s.missing, std::vector<std::string>{"app/new.cpp"});
  EXPECT_EQ(s.removed, std::vector<std::string>{"geo/point.cpp"});
  ASSERT_TRUE(s.age_seconds);
  EXPECT_GE(*s.age_seconds, 0.0);
}

TEST_F(RepositoryIndexerTest, ParsingSeveralFilesAtOnceStoresTheSameIndex) {
  for (int i = 0; i < 6; ++i) {
    const std::string n = std::to_string(i);
    repo_.write("more/f" + n + ".cpp", "int f" + n + "() { return " + n + "; }\n");
  }
  const auto rows_of = [](const fs::path& index_dir) {
    auto db =
        SymbolDatabase::open(symbol_database_path(index_dir), SymbolDatabase::OpenMode::kReadOnly);
    EXPECT_TRUE(db);
    std::vector<std::string> rows;
    if (!db) return rows;
    const auto files = db.value()->files();
    for (const std::string& path : files.value()) {
      const auto symbols = db.value()->symbols_in_file(path);
      for (const Symbol& s : symbols.value())
        rows.push_back(path + " " + s.qualified_name + " " + s.signature);
    }
    return rows;
  };
  EXPECT_EQ(run().files_indexed, 9u);
  TempDir other;
  options_.index_dir = other.path() / "idx";
  options_.parse_jobs = 3;
  EXPECT_EQ(run().files_indexed, 9u);
  const std::vector<std::string> sequential = rows_of(repo_.path() / ".mnemo");
  EXPECT_FALSE(sequential.empty());
  EXPECT_EQ(rows_of(other.path() / "idx"), sequential);
}

TEST_F(RepositoryIndexerTest, AHeaderOnlyLibraryIsParsedFromItsTopHeadersAndTheRestAlone) {
  TempDir lib;
  lib.write("lib.hpp", "#pragma once\n#include \"lib/a.hpp\"\n#include \"lib/b.hpp\"\n");
  lib.write("lib/a.hpp", "#pragma once\n#include \"lib/detail/impl.ipp\"\nint a();\n");
  lib.write("lib/b.hpp", "#pragma once\nint b();\n");
  lib.write("lib/detail/impl.ipp", "int impl();\n");
  // Included only where an #if the parse does not take: it is parsed on its own.
  lib.write("lib/win.hpp", "#pragma once\nint win();\n");
  lib.write("lib/c.hpp", "#pragma once\n#ifdef _WIN32\n#include \"lib/win.hpp\"\n#endif\n");
  options_.root = lib.path();
  std::vector<std::string> parsed;
  const IndexReport r = run([&](const IndexProgress& p) {
    if (!p.current.empty()) parsed.push_back(p.current);
  });
  EXPECT_EQ(r.files_indexed, 6u);
  EXPECT_EQ(r.parse_errors, 0u);
  EXPECT_EQ(parsed, (std::vector<std::string>{"lib.hpp", "lib/c.hpp", "lib/win.hpp"}));
  EXPECT_EQ(r.units_parsed, 3u);
  auto db = SymbolDatabase::open(symbol_database_path(lib.path() / ".mnemo"),
                                 SymbolDatabase::OpenMode::kReadOnly);
  ASSERT_TRUE(db);
  for (const char* name : {"a", "b", "impl", "win"}) {
    auto found = db.value()->symbols_qualified(name);
    ASSERT_TRUE(found);
    EXPECT_EQ(found.value().size(), 1u) << name;
  }

  // A changed header alone is parsed alone; what did not change is not parsed again.
  lib.write("lib/b.hpp", "#pragma once\nint b();\nint b2();\n");
  const IndexReport again = run();
  EXPECT_EQ(again.files_indexed, 1u);
  EXPECT_EQ(again.units_parsed, 1u);
  EXPECT_EQ(again.files_unchanged, 5u);
}

// libclang's driver makes a parse's -working-directory the process's own (LLVM's real file
// system links the two), so a root named relative to where the indexer started stopped
// resolving after the first parse: every later file failed with "error 4".
TEST_F(RepositoryIndexerTest, ARepositoryNamedByARelativePathHasEveryFileParsed) {
  for (int i = 0; i < 3; ++i)
    repo_.write("lone" + std::to_string(i) + ".h", "int lone" + std::to_string(i) + "();\n");
  const fs::path started_in = fs::current_path();
  fs::current_path(repo_.path().parent_path());
  options_.root = repo_.path().filename();
  const IndexReport r = run();
  const fs::path after = fs::current_path();
  fs::current_path(started_in);
  EXPECT_EQ(after, repo_.path().parent_path()) << "a parse moved the process";
  EXPECT_TRUE(r.failed.empty()) << r.failed.front().path << ": " << r.failed.front().reason;
  EXPECT_EQ(r.files_indexed, 6u);
  EXPECT_EQ(r.units_parsed, 5u);  // the two sources, point.h with them, and each lone header
}

TEST_F(RepositoryIndexerTest, TheIndexFolderMayLiveElsewhere) {
  TempDir elsewhere;
  options_.index_dir = elsewhere.path() / "idx";
  EXPECT_EQ(run().files_indexed, 3u);
  EXPECT_TRUE(fs::exists(symbol_database_path(elsewhere.path() / "idx")));
  EXPECT_FALSE(fs::exists(repo_.path() / ".mnemo"));
}

}  // namespace
}  // namespace mnemo::indexer
