// Semantic completion by libclang (indexer/clang_completion.h): after `.`, `->` and `::` only
// the members of what is on the left (never a private one from outside), elsewhere the names
// in scope, filtered by what is typed; signatures and brief comments; a repeated request
// reuses the translation unit; the worker answers as the in-process completer does.
#include "indexer/clang_completion.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "indexer/parse_worker.h"
#include "tests/support/temp_dir.h"

namespace mnemo::indexer {
namespace {

using testing::TempDir;
using namespace std::chrono_literals;

const std::string kHeader = R"(#pragma once
namespace geo {
/// A point in the plane.
struct Point {
  double x, y;
  /// Distance from the origin.
  double norm() const;
  void scale(double by, double around = 0);
 private:
  int secret_;
};
Point origin();
}
)";

/// `main.cpp` with the cursor at `^` in its body.
std::string source_with(const std::string& statement) {
  return "#include \"geo.h\"\nint main() {\n  geo::Point p;\n  geo::Point* q = &p;\n"
         "  int local_count = 0;\n  " +
         statement + "\n}\n";
}

class ClangCompletionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_.write("geo.h", kHeader);
    flags_ = CompileFlags::for_repository(repo_.path());
  }

  /// A request at the `^` of `marked`: at the start of the name being typed, with its
  /// typed part as the prefix.
  SemanticRequest request(const std::string& marked) const {
    std::string text = marked;
    const std::size_t cursor = text.find('^');
    text.erase(cursor, 1);
    std::size_t start = cursor;
    while (start > 0 && (std::isalnum(static_cast<unsigned char>(text[start - 1])) != 0 ||
                         text[start - 1] == '_'))
      --start;
    const std::size_t line_start = text.rfind('\n', start - 1) + 1;
    SemanticRequest r;
    r.file = repo_.path() / "main.cpp";
    r.contents = text;
    r.command = flags_->command_for("main.cpp");
    r.line = static_cast<unsigned>(std::count(text.begin(), text.begin() + start, '\n') + 1);
    r.column = static_cast<unsigned>(start - line_start + 1);
    r.prefix = text.substr(start, cursor - start);
    return r;
  }

  std::vector<std::string> names(const std::string& statement) {
    auto completions = completer_.complete(request(source_with(statement)));
    EXPECT_TRUE(completions) << completions.error().message;
    std::vector<std::string> out;
    if (completions) {
      for (const SemanticCandidate& c : completions.value().candidates) out.push_back(c.name);
    }
    return out;
  }

  static bool has(const std::vector<std::string>& v, const std::string& name) {
    return std::find(v.begin(), v.end(), name) != v.end();
  }

  TempDir repo_;
  std::unique_ptr<CompileFlags> flags_;
  ClangCompleter completer_;
};

TEST_F(ClangCompletionTest, AfterADotOnlyTheAccessibleMembersOfTheType) {
  const auto members = names("p.^");
  EXPECT_TRUE(has(members, "x") && has(members, "y") && has(members, "norm") &&
              has(members, "scale"));
  EXPECT_FALSE(has(members, "secret_"));      // private
  EXPECT_FALSE(has(members, "local_count"));  // in scope, but not a member
  EXPECT_FALSE(has(members, "origin"));
}

TEST_F(ClangCompletionTest, AfterAnArrowOrAScopeTheirMembersFilteredByWhatIsTyped) {
  EXPECT_EQ(names("q->sc^"), std::vector<std::string>{"scale"});
  const auto in_geo = names("geo::^");
  EXPECT_TRUE(has(in_geo, "Point") && has(in_geo, "origin"));
  EXPECT_FALSE(has(in_geo, "local_count"));
  EXPECT_EQ(names("geo::OR^"), std::vector<std::string>{"origin"});  // any case
}

TEST_F(ClangCompletionTest, ElsewhereTheNamesInScope) {
  const auto in_scope = names("loc^");
  EXPECT_TRUE(has(in_scope, "local_count"));
  for (const std::string& name : in_scope) EXPECT_EQ(name.rfind("loc", 0), 0u) << name;
  EXPECT_TRUE(has(names("^"), "geo"));
}

TEST_F(ClangCompletionTest, CandidatesCarryTheirSignatureResultTypeKindAndBriefComment) {
  auto completions = completer_.complete(request(source_with("p.^")));
  ASSERT_TRUE(completions) << completions.error().message;
  const auto& all = completions.value().candidates;
  const auto find = [&](const std::string& name) {
    return *std::find_if(all.begin(), all.end(),
                         [&](const SemanticCandidate& c) { return c.name == name; });
  };
  EXPECT_EQ(find("scale").signature, "scale(double by[, double around = 0])");
  EXPECT_EQ(find("scale").result_type, "void");
  EXPECT_EQ(find("scale").kind, SemanticCandidate::Kind::kFunction);
  EXPECT_EQ(find("norm").signature, "norm() const");
  EXPECT_EQ(find("norm").brief, "Distance from the origin.");
  EXPECT_EQ(find("x").kind, SemanticCandidate::Kind::kField);
  EXPECT_EQ(find("x").result_type, "double");
}

TEST_F(ClangCompletionTest, TheLiveTextIsCompletedNotTheFileOnDisk) {
  repo_.write("main.cpp", source_with(""));  // on disk: no `fresh_name`
  EXPECT_TRUE(has(names("int fresh_name = 1; fre^"), "fresh_name"));
  // The same unit again, with other text: reparsed, not answered from the first text.
  EXPECT_FALSE(has(names("fre^"), "fresh_name"));
}

TEST_F(ClangCompletionTest, ACapOnCandidatesIsReportedAsTruncated) {
  SemanticRequest r = request(source_with("^"));
  r.max_candidates = 3;
  auto completions = completer_.complete(r);
  ASSERT_TRUE(completions);
  EXPECT_EQ(completions.value().candidates.size(), 3u);
  EXPECT_TRUE(completions.value().truncated);
}

// libclang would leave the process in the command's -working-directory (the repository).
TEST_F(ClangCompletionTest, ACompletionLeavesTheProcessInItsWorkingDirectory) {
  TempDir elsewhere;
  const std::filesystem::path started_in = std::filesystem::current_path();
  std::filesystem::current_path(elsewhere.path());
  EXPECT_FALSE(names("p.^").empty());
  const std::filesystem::path after = std::filesystem::current_path();
  std::filesystem::current_path(started_in);
  EXPECT_EQ(after, elsewhere.path());
}

TEST_F(ClangCompletionTest, TheWorkerAnswersAsTheInProcessCompleter) {
  ParseWorker worker({MNEMO_TEST_PARSE_WORKER}, 60s);
  const SemanticRequest r = request(source_with("p.^"));
  auto remote = worker.complete(r);
  ASSERT_TRUE(remote) << remote.error().message;
  auto here = completer_.complete(r);
  ASSERT_TRUE(here);
  ASSERT_EQ(remote.value().candidates.size(), here.value().candidates.size());
  for (std::size_t i = 0; i < here.value().candidates.size(); ++i) {
    const SemanticCandidate &a = remote.value().candidates[i], &b = here.value().candidates[i];
    EXPECT_EQ(std::tie(a.name, a.signature, a.result_type, a.brief, a.kind, a.priority),
              std::tie(b.name, b.signature, b.result_type, b.brief, b.kind, b.priority));
  }
  EXPECT_EQ(worker.starts(), 1);
}

}  // namespace
}  // namespace mnemo::indexer
