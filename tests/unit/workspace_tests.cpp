// The workspace side of symbolic completion on its own: which files the walk accepts and
// how the identifier table answers prefix and per-file questions.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "server/completion/workspace_files.h"
#include "server/completion/workspace_identifiers.h"

namespace mnemo::server {
namespace {

TEST(WorkspaceFilesTest, SkipsHiddenDependencyAndBuildDirectories) {
  for (const char* name : {".git", ".cache", "node_modules", "build", "build-c", "buildRelease",
                           "out", "dist", "target", "__pycache__"}) {
    EXPECT_TRUE(is_skipped_directory(name)) << name;
  }
  for (const char* name : {"src", "output", "distance", "targets", "lib", "rebuild"}) {
    EXPECT_FALSE(is_skipped_directory(name)) << name;
  }
}

TEST(WorkspaceFilesTest, AcceptsSourceAndTextExtensions) {
  for (const char* name :
       {"a.cc", "a.C", "a.c++", "b.HPP", "CMakeLists.txt", "x.cmake", "m.py", "lib.rs", "main.go",
        "README.md", "cfg.yml", "k.kt", "s.sh", ".eslintrc.json"}) {
    EXPECT_TRUE(is_indexable_file(name)) << name;
  }
  for (const char* name : {"a.png", "a.o", "a.so", "Makefile", "a.", "a.pyc", "notes.docx"}) {
    EXPECT_FALSE(is_indexable_file(name)) << name;
  }
}

std::vector<std::string> names_with(const WorkspaceIdentifiers& table, std::string_view prefix) {
  std::vector<std::string> out;
  const auto [first, last] = table.names_with_prefix(prefix);
  for (auto it = first; it != last; ++it) out.emplace_back(table.name(*it));
  return out;
}

TEST(WorkspaceIdentifiersTest, PrefixRangeIsCaseInsensitive) {
  WorkspaceIdentifiersBuilder builder;
  builder.add_file("/w/a.cc", "FooBar foobaz Fob fo zed foo_1");
  builder.add_file("/w/b.cc", "fooBar FOOQ");
  const auto table = std::move(builder).build();
  EXPECT_EQ(names_with(*table, "foo"),
            (std::vector<std::string>{"foo_1", "FooBar", "fooBar", "foobaz", "FOOQ"}));
  EXPECT_EQ(names_with(*table, "FOOB"), (std::vector<std::string>{"FooBar", "fooBar", "foobaz"}));
  EXPECT_EQ(names_with(*table, "zz"), std::vector<std::string>{});
  EXPECT_EQ(names_with(*table, "").size(), 8u);
}

TEST(WorkspaceIdentifiersTest, KeepsPerFileCountsAndTotals) {
  WorkspaceIdentifiersBuilder builder;
  builder.add_file("/w/a.cc", "alpha alpha beta");
  builder.add_file("/w/b.cc", "alpha gamma");
  builder.add_file("/w/a.cc", "alpha alpha alpha");  // same key again: ignored
  const auto table = std::move(builder).build();
  EXPECT_EQ(table->file_count(), 2u);
  const auto [first, last] = table->names_with_prefix("alpha");
  ASSERT_EQ(last - first, 1);
  EXPECT_EQ(table->total(*first), 3u);
  const auto* a = table->file("/w/a.cc");
  ASSERT_NE(a, nullptr);
  const auto alpha =
      std::find_if(a->begin(), a->end(), [&](const auto& e) { return e.name == *first; });
  ASSERT_NE(alpha, a->end());
  EXPECT_EQ(alpha->count, 2u);
  EXPECT_EQ(table->file("/w/c.cc"), nullptr);
}

}  // namespace
}  // namespace mnemo::server
