// Cross-file completion cases (server/eval/eval_cases.h) from a small repository indexed by the
// real indexer: which uses become cases, their answers, first and later uses, and the
// deterministic sample.
#include "server/eval/eval_cases.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "indexer/repository_indexer.h"
#include "tests/support/temp_dir.h"

namespace mnemo::server {
namespace {

using mnemo::testing::TempDir;

/// "FILE:LINE IDENTIFIER (first|later) -> DEFINITION_FILE:FIRST-LAST | REST OF LINE"
std::string describe(const EvalCase& c) {
  return c.file + ":" + std::to_string(c.line) + " " + c.identifier +
         (c.first_use ? " (first)" : " (later)") + " -> " + c.definition_file + ":" +
         std::to_string(c.definition_first_line) + "-" + std::to_string(c.definition_last_line) +
         " | " + c.rest_of_line;
}

class EvalCasesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.write("geo/point.h",
                "#pragma once\n"
                "namespace geo {\n"
                "struct Point {\n"
                "  double x;\n"
                "  double norm() const;\n"
                "};\n"
                "Point origin();\n"
                "}\n");
    repo_.write("geo/point.cpp",
                "#include \"geo/point.h\"\n"
                "double geo::Point::norm() const { return x; }\n"
                "geo::Point geo::origin() { return {}; }\n");
    repo_.write("app/main.cpp",
                "#include \"geo/point.h\"\n"
                "#define ORIGIN geo::origin()\n"
                "int main() {\n"
                "  geo::Point p = geo::origin();\n"
                "  // geo::origin() in a comment is not a use\n"
                "  double n = p.norm() + ORIGIN.norm();\n"
                "  return static_cast<int>(n + p.x);\n"
                "}\n");
    indexer::IndexOptions options;
    options.root = repo_.path();
    auto report = indexer::index_repository(options, {}, nullptr);
    ASSERT_TRUE(report) << report.error().message;
    auto db = indexer::SymbolDatabase::open(indexer::symbol_database_path(repo_.path() / ".mnemo"),
                                            indexer::SymbolDatabase::OpenMode::kReadOnly);
    ASSERT_TRUE(db) << db.error().message;
    db_ = std::move(db).value();
  }

  std::vector<std::string> cases(const EvalCaseOptions& options = {}) {
    auto extracted = extract_cases(*db_, repo_.path(), options);
    EXPECT_TRUE(extracted) << extracted.error();
    std::vector<std::string> out;
    if (extracted) {
      for (const EvalCase& c : extracted.value().cases) out.push_back(describe(c));
    }
    return out;
  }

  TempDir repo_;
  std::unique_ptr<indexer::SymbolDatabase> db_;
};

TEST_F(EvalCasesTest, EveryUseOfASymbolDefinedInAnotherFileIsACase) {
  EXPECT_EQ(
      cases(),
      (std::vector<std::string>{
          // The uses in main.cpp of what geo/ defines; not `p` or `n` (its own),
          // not the comment, not the macro's body (a preprocessor line) nor
          // its expansion (the bytes there spell ORIGIN).
          "app/main.cpp:4 geo (first) -> geo/point.h:2-8 | geo::Point p = geo::origin();",
          "app/main.cpp:4 Point (first) -> geo/point.h:3-6 | Point p = geo::origin();",
          "app/main.cpp:4 geo (later) -> geo/point.h:2-8 | geo::origin();",
          "app/main.cpp:4 origin (first) -> geo/point.cpp:3-3 | origin();",
          "app/main.cpp:6 norm (first) -> geo/point.cpp:2-2 | norm() + ORIGIN.norm();",
          "app/main.cpp:6 norm (later) -> geo/point.cpp:2-2 | norm();",
          "app/main.cpp:7 x (first) -> geo/point.h:4-4 | x);",
          // point.cpp uses what the header defines.
          "geo/point.cpp:2 geo (first) -> geo/point.h:2-8 | geo::Point::norm() const { return x; }",
          "geo/point.cpp:2 Point (first) -> geo/point.h:3-6 | Point::norm() const { return x; }",
          "geo/point.cpp:2 x (first) -> geo/point.h:4-4 | x; }",
          "geo/point.cpp:3 geo (later) -> geo/point.h:2-8 | geo::Point geo::origin() { return {}; "
          "}",
          "geo/point.cpp:3 Point (later) -> geo/point.h:3-6 | Point geo::origin() { return {}; }",
          "geo/point.cpp:3 geo (later) -> geo/point.h:2-8 | geo::origin() { return {}; }",
      }));
}

TEST_F(EvalCasesTest, ASampleIsDeterministicBySeedAndInFileOrder) {
  const std::vector<std::string> all = cases();
  EvalCaseOptions options;
  options.max_cases = 5;
  options.seed = 7;
  const std::vector<std::string> sample = cases(options);
  ASSERT_EQ(sample.size(), 5u);
  EXPECT_EQ(cases(options), sample);
  // Cases of the full list, in its order.
  auto next = all.begin();
  for (const std::string& c : sample) {
    next = std::find(next, all.end(), c);
    ASSERT_NE(next, all.end()) << c;
  }
  options.seed = 8;
  EXPECT_NE(cases(options), sample);
  options.max_cases = 100;
  EXPECT_EQ(cases(options), all);
}

TEST_F(EvalCasesTest, TheOraclesWindowIsTheDefinitionsLines) {
  auto extracted = extract_cases(*db_, repo_.path());
  ASSERT_TRUE(extracted) << extracted.error();
  const auto point = std::find_if(extracted.value().cases.begin(), extracted.value().cases.end(),
                                  [](const EvalCase& c) { return c.identifier == "Point"; });
  ASSERT_NE(point, extracted.value().cases.end());
  const std::string header =  // as SetUp wrote it
      "#pragma once\nnamespace geo {\nstruct Point {\n  double x;\n  double norm() const;\n};\n"
      "Point origin();\n}\n";
  const CodeWindow w = definition_window(*point, header);
  EXPECT_EQ(w.file, "geo/point.h");
  EXPECT_EQ(w.text, "struct Point {\n  double x;\n  double norm() const;\n};\n");
  // A file that ends without a line break keeps its last line.
  EXPECT_EQ(definition_window(*point, "a\nb\nstruct Point {\n  double x;\n  int y;\n};").text,
            "struct Point {\n  double x;\n  int y;\n};");
}

}  // namespace
}  // namespace mnemo::server
