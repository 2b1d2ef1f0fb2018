// The symbols libclang reports for a small multi-file C++ project (indexer/clang_symbols.h),
// checked row by row: definitions and declarations with their qualified names and
// signatures, the members of a record, references across files by USR, includes; a file
// with errors is still indexed; one parse records the headers it includes as though each
// were indexed alone; compile_commands.json is used, and a header borrows its
// neighbour's command. Expected lines are found in the fixture text, not written as numbers.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "indexer/clang_symbols.h"
#include "indexer/compile_flags.h"
#include "indexer/content_hash.h"
#include "tests/support/file_symbols_text.h"
#include "tests/support/temp_dir.h"

namespace mnemo::indexer {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

const char* kPointH = R"(#pragma once
#define GEO_SQUARE(x) ((x) * (x))
namespace geo {
struct Point {
  double x;
  double y;
  double norm() const;
  static Point origin();
};
enum class Axis { kX, kY };
using Scalar = double;
double dot(const Point& a, const Point& b);
}  // namespace geo
)";

const char* kPointCpp = R"(#include "geo/point.h"
#include <cmath>
namespace geo {
double Point::norm() const { return std::sqrt(dot(*this, *this)); }
Point Point::origin() { return Point{0, 0}; }
double dot(const Point& a, const Point& b) {
  double local = a.x * b.x;
  return local + GEO_SQUARE(a.y) * 0 + a.y * b.y;
}
}  // namespace geo
)";

const char* kMainCpp = R"(#include "geo/point.h"
int main() {
  geo::Point p{3, 4};
  return static_cast<int>(p.norm() + geo::dot(p, geo::Point::origin()));
}
)";

const char* kBrokenCpp = R"(#include "geo/point.h"
#include "missing/header.h"
int ok_before(int a) { return a; }
int broken( {
int ok_after() { return 1; }
)";

/// 1-based line and column of the first occurrence of `needle` in `text`.
std::pair<std::uint32_t, std::uint32_t> position_of(const std::string& text,
                                                    const std::string& needle) {
  const std::size_t at = text.find(needle);
  EXPECT_NE(at, std::string::npos) << needle;
  const std::size_t line_start = text.rfind('\n', at == 0 ? 0 : at - 1);
  const auto line =
      static_cast<std::uint32_t>(std::count(text.begin(), text.begin() + at, '\n') + 1);
  const auto column =
      static_cast<std::uint32_t>(at - (line_start == std::string::npos ? 0 : line_start + 1) + 1);
  return {line, column};
}

class ClangSymbolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.write("geo/point.h", kPointH);
    repo_.write("geo/point.cpp", kPointCpp);
    repo_.write("app/main.cpp", kMainCpp);
    repo_.write("app/broken.cpp", kBrokenCpp);
    flags_ = CompileFlags::for_repository(repo_.path());
  }

  FileSymbols index(const std::string& path, const std::string& contents) {
    auto result = indexer_.index(repo_.path(), path, contents, flags_->command_for(path));
    EXPECT_TRUE(result) << (result ? "" : result.error().message);
    if (result) {
      EXPECT_TRUE(result.value().included.empty());  // none asked for
    }
    return result ? std::move(result).value().main : FileSymbols{};
  }

  static const Symbol& symbol(const FileSymbols& f, const std::string& qualified, bool definition) {
    for (const Symbol& s : f.symbols) {
      if (s.qualified_name == qualified && s.is_definition == definition) return s;
    }
    ADD_FAILURE() << "no " << (definition ? "definition" : "declaration") << " of " << qualified
                  << " in " << f.path;
    static const Symbol none;
    return none;
  }

  static bool references(const FileSymbols& f, const std::string& usr, std::uint32_t line,
                         std::uint32_t column) {
    return std::any_of(f.references.begin(), f.references.end(), [&](const Reference& r) {
      return r.usr == usr && r.line == line && r.column == column;
    });
  }

  TempDir repo_;
  std::unique_ptr<CompileFlags> flags_;
  ClangIndexer indexer_;
};

TEST_F(ClangSymbolsTest, AHeadersDeclarationsAndRecordMembersAreRecordedRowByRow) {
  const FileSymbols h = index("geo/point.h", kPointH);
  EXPECT_EQ(h.path, "geo/point.h");
  EXPECT_EQ(h.parse_errors, 0u);
  EXPECT_EQ(h.content_hash, git_blob_id(kPointH));

  const Symbol& ns = symbol(h, "geo", true);
  EXPECT_EQ(ns.kind, "namespace");
  EXPECT_EQ(ns.signature, "namespace geo");

  const Symbol& point = symbol(h, "geo::Point", true);
  EXPECT_EQ(point.kind, "struct");
  EXPECT_EQ(point.signature, "struct Point");
  EXPECT_EQ(point.parent_usr, ns.usr);
  EXPECT_EQ(std::make_pair(point.line, point.column), position_of(kPointH, "Point {"));
  EXPECT_EQ(point.range.start_line, position_of(kPointH, "struct Point").first);
  EXPECT_EQ(point.range.end_line, position_of(kPointH, "};").first);

  // The members, in source order, each with the struct as parent.
  std::vector<std::string> members;
  for (const Symbol& s : h.symbols) {
    if (s.parent_usr == point.usr) members.push_back(s.kind + " " + s.signature);
  }
  EXPECT_EQ(members, (std::vector<std::string>{"field double x", "field double y",
                                               "method double norm() const",
                                               "method static geo::Point origin()"}));
  EXPECT_FALSE(symbol(h, "geo::Point::norm", false).is_definition);

  EXPECT_EQ(symbol(h, "geo::Axis", true).signature, "enum class Axis");
  EXPECT_EQ(symbol(h, "geo::Axis::kY", true).signature, "kY = 1");
  EXPECT_EQ(symbol(h, "geo::Scalar", true).signature, "using Scalar = double");
  EXPECT_EQ(symbol(h, "geo::dot", false).signature,
            "double dot(const geo::Point & a, const geo::Point & b)");
  const Symbol& macro = symbol(h, "GEO_SQUARE", true);
  EXPECT_EQ(macro.kind, "macro");
  EXPECT_EQ(macro.signature, "#define GEO_SQUARE(...)");
}

TEST_F(ClangSymbolsTest, DefinitionsAndReferencesAcrossFilesShareUsrs) {
  const FileSymbols h = index("geo/point.h", kPointH);
  const FileSymbols cpp = index("geo/point.cpp", kPointCpp);
  const FileSymbols main = index("app/main.cpp", kMainCpp);
  for (const FileSymbols* f : {&h, &cpp, &main}) EXPECT_EQ(f->parse_errors, 0u) << f->path;

  const Symbol& norm_decl = symbol(h, "geo::Point::norm", false);
  const Symbol& norm_def = symbol(cpp, "geo::Point::norm", true);
  EXPECT_EQ(norm_def.usr, norm_decl.usr);
  EXPECT_EQ(norm_def.signature, "double norm() const");
  EXPECT_EQ(norm_def.parent_usr, symbol(h, "geo::Point", true).usr);
  const Symbol& dot_def = symbol(cpp, "geo::dot", true);
  EXPECT_EQ(dot_def.usr, symbol(h, "geo::dot", false).usr);
  EXPECT_EQ(std::make_pair(dot_def.line, dot_def.column), position_of(kPointCpp, "dot(const"));

  // point.cpp: norm calls dot; dot reads the fields and expands the macro.
  const std::string field_x = symbol(h, "geo::Point::x", true).usr;  // a field: its definition
  EXPECT_TRUE(references(cpp, dot_def.usr, position_of(kPointCpp, "dot(*this").first,
                         position_of(kPointCpp, "dot(*this").second));
  EXPECT_TRUE(references(cpp, field_x, position_of(kPointCpp, "x * b.x").first,
                         position_of(kPointCpp, "x * b.x").second));
  EXPECT_TRUE(references(cpp, symbol(h, "GEO_SQUARE", true).usr,
                         position_of(kPointCpp, "GEO_SQUARE(a.y)").first,
                         position_of(kPointCpp, "GEO_SQUARE(a.y)").second));
  // Locals and parameters are neither symbols nor referenced.
  for (const Symbol& s : cpp.symbols) EXPECT_NE(s.name, "local") << s.qualified_name;
  for (const Symbol& s : cpp.symbols) EXPECT_NE(s.name, "a") << s.qualified_name;

  // main.cpp: the type, the method, the free function and the static member, by USR.
  const auto [line, column] = position_of(kMainCpp, "Point p{");
  EXPECT_TRUE(references(main, symbol(h, "geo::Point", true).usr, line, column));
  const auto norm_at = position_of(kMainCpp, "norm()");
  EXPECT_TRUE(references(main, norm_decl.usr, norm_at.first, norm_at.second));
  const auto dot_at = position_of(kMainCpp, "dot(p");
  EXPECT_TRUE(references(main, dot_def.usr, dot_at.first, dot_at.second));
  const auto origin_at = position_of(kMainCpp, "origin()");
  EXPECT_TRUE(references(main, symbol(h, "geo::Point::origin", false).usr, origin_at.first,
                         origin_at.second));
  EXPECT_TRUE(symbol(main, "main", true).is_definition);
}

TEST_F(ClangSymbolsTest, IncludesAreRecordedRelativeToTheRootOrAbsolute) {
  const FileSymbols cpp = index("geo/point.cpp", kPointCpp);
  ASSERT_EQ(cpp.includes.size(), 2u);
  EXPECT_EQ(cpp.includes[0].path, "geo/point.h");
  EXPECT_EQ(cpp.includes[0].line, 1u);
  EXPECT_TRUE(cpp.includes[0].resolved);
  EXPECT_TRUE(fs::path(cpp.includes[1].path).is_absolute()) << cpp.includes[1].path;
  EXPECT_NE(cpp.includes[1].path.find("cmath"), std::string::npos);
  EXPECT_TRUE(cpp.includes[1].resolved);
}

TEST_F(ClangSymbolsTest, AFileWithErrorsIsStillIndexed) {
  const FileSymbols broken = index("app/broken.cpp", kBrokenCpp);
  EXPECT_GE(broken.parse_errors, 2u);  // the missing header and the syntax error
  EXPECT_TRUE(symbol(broken, "ok_before", true).is_definition);
  ASSERT_EQ(broken.includes.size(), 2u);
  EXPECT_FALSE(broken.includes[1].resolved);
  EXPECT_EQ(broken.includes[1].path, "missing/header.h");
}

TEST_F(ClangSymbolsTest, TheParsedContentsAreTheOnesGivenNotTheFileOnDisk) {
  const std::string edited = std::string(kMainCpp) + "int added_in_the_editor() { return 2; }\n";
  const FileSymbols main = index("app/main.cpp", edited);
  EXPECT_TRUE(symbol(main, "added_in_the_editor", true).is_definition);
  EXPECT_EQ(main.content_hash, git_blob_id(edited));
}

TEST_F(ClangSymbolsTest, AParseRecordsTheIncludedHeadersAskedForAsIfEachWereIndexedAlone) {
  const std::string main_path = "app/main.cpp";
  auto unit = indexer_.index(repo_.path(), main_path, kMainCpp, flags_->command_for(main_path),
                             {"geo/point.h", "geo/point.cpp", "nowhere/absent.h"});
  ASSERT_TRUE(unit) << unit.error().message;
  // Only what the parse included; the main file's own rows are unchanged.
  ASSERT_EQ(unit.value().included.size(), 1u);
  EXPECT_EQ(testing::describe(unit.value().main), testing::describe(index(main_path, kMainCpp)));
  const FileSymbols& header = unit.value().included[0];
  EXPECT_EQ(header.content_hash, git_blob_id(kPointH));
  EXPECT_EQ(testing::describe(header), testing::describe(index("geo/point.h", kPointH)));
}

TEST_F(ClangSymbolsTest, AnErrorCountsAgainstTheRecordedHeaderItIsIn) {
  repo_.write("geo/bad.h",
              "#pragma once\nint bad_decl() { return undeclared; }\nint fine_decl();\n");
  const std::string user = "#include \"geo/bad.h\"\nint use() { return fine_decl(); }\n";
  auto unit = indexer_.index(repo_.path(), "app/user.cpp", user,
                             flags_->command_for("app/user.cpp"), {"geo/bad.h"});
  ASSERT_TRUE(unit) << unit.error().message;
  ASSERT_EQ(unit.value().included.size(), 1u);
  EXPECT_GE(unit.value().included[0].parse_errors, 1u);
  EXPECT_EQ(unit.value().main.parse_errors, 0u);
  EXPECT_EQ(symbol(unit.value().included[0], "fine_decl", false).name, "fine_decl");
}

TEST(CompileFlags, ADatabaseCommandIsUsedAndAHeaderBorrowsItsNeighbours) {
  TempDir repo;
  repo.write("lib/util.h",
             "#pragma once\nint helper();\n#ifndef FROM_DB\n#error no flags\n#endif\n");
  repo.write("lib/util.cpp", "#include \"util.h\"\nint helper() { return FROM_DB; }\n");
  repo.write("build/compile_commands.json",
             "[{\"directory\": \"" + repo.path().string() +
                 "\", \"file\": \"lib/util.cpp\", \"arguments\": [\"c++\", \"-std=c++17\", "
                 "\"-DFROM_DB=7\", \"-c\", \"lib/util.cpp\", \"-o\", \"util.o\"]}]");
  const auto flags = CompileFlags::for_repository(repo.path());
  ASSERT_TRUE(flags->database());
  EXPECT_EQ(*flags->database(), repo.path() / "build" / "compile_commands.json");

  const CompileCommand own = flags->command_for("lib/util.cpp");
  EXPECT_TRUE(own.from_database);
  EXPECT_FALSE(own.inferred);
  const CompileCommand header = flags->command_for("lib/util.h");
  EXPECT_TRUE(header.inferred);
  EXPECT_NE(std::find(header.argv.begin(), header.argv.end(), "c++-header"), header.argv.end());

  // The header parses cleanly only with the database's -D.
  ClangIndexer indexer;
  std::ifstream in(repo.path() / "lib/util.h");
  const std::string contents((std::istreambuf_iterator<char>(in)), {});
  auto h = indexer.index(repo.path(), "lib/util.h", contents, header);
  ASSERT_TRUE(h);
  EXPECT_EQ(h.value().main.parse_errors, 0u);
  auto without = indexer.index(repo.path(), "lib/util.h", contents,
                               CompileFlags::for_repository(repo.path(), {}, repo.path() / "none")
                                   ->command_for("lib/util.h"));
  ASSERT_TRUE(without);
  EXPECT_EQ(without.value().main.parse_errors, 1u);
}

TEST(CompileFlags, WithoutADatabaseTheDefaultsFindTheRepositorysIncludeFolders) {
  TempDir repo;
  repo.write("include/lib/api.h", "#pragma once\nint api();\n");
  repo.write("src/use.cpp", "#include <lib/api.h>\nint use() { return api(); }\n");
  const std::vector<std::string> dirs = include_folders({"include/lib/api.h", "src/use.cpp"});
  EXPECT_EQ(dirs, std::vector<std::string>{"include"});
  const auto flags = CompileFlags::for_repository(repo.path(), dirs);
  EXPECT_FALSE(flags->database());
  const CompileCommand command = flags->command_for("src/use.cpp");
  EXPECT_FALSE(command.from_database);

  ClangIndexer indexer;
  auto use = indexer.index(repo.path(), "src/use.cpp",
                           "#include <lib/api.h>\nint use() { return api(); }\n", command);
  ASSERT_TRUE(use);
  EXPECT_EQ(use.value().main.parse_errors, 0u);
  ASSERT_EQ(use.value().main.includes.size(), 1u);
  EXPECT_EQ(use.value().main.includes[0].path, "include/lib/api.h");
}

TEST(CompileFlags, TheFileIsLeftOutOfLibclangsArgumentsHoweverItsPathIsSpelled) {
  // A workspace opened as "." gives paths such as /repo/./a.cpp.
  CompileCommand command;
  command.argv = {"clang++", "-std=c++17", "/repo/a.cpp", "-I/repo/include"};
  command.directory = "/repo";
  const std::vector<std::string> expected = {"clang++", "-std=c++17", "-I/repo/include",
                                             "-working-directory=/repo",
                                             "-Wno-unknown-warning-option"};
  EXPECT_EQ(libclang_argv(command, "/repo/./a.cpp"), expected);
  EXPECT_EQ(libclang_argv(command, "/repo/a.cpp"), expected);
  command.argv = {"clang++", "-std=c++17", "src/../a.cpp", "-I/repo/include"};
  EXPECT_EQ(libclang_argv(command, "/repo/./a.cpp"), expected);
}

}  // namespace
}  // namespace mnemo::indexer
