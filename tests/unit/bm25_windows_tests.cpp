// BM25 retrieval over windows of lines (server/eval/bm25_windows.h): which windows a query
// finds, in which order, and which it must not return.
#include "server/eval/bm25_windows.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mnemo::server {
namespace {

std::string filler(int n, const std::string& stem) {
  std::string out;
  for (int i = 0; i < n; ++i) out += "int " + stem + " = value + " + std::to_string(i) + ";\n";
  return out;
}

std::vector<std::string> found(Bm25Windows& index, const std::string& query,
                               const std::string& excluded, std::size_t count) {
  auto windows = index.search(query, excluded, count);
  EXPECT_TRUE(windows) << windows.error();
  std::vector<std::string> out;
  if (windows) {
    for (const CodeWindow& w : windows.value())
      out.push_back(w.file + ":" + std::to_string(w.first_line) + "-" +
                    std::to_string(w.last_line));
  }
  return out;
}

TEST(Bm25Windows, FilesAreCutIntoOverlappingWindowsOfLines) {
  // 10 lines in windows of 4 every 2: 1-4, 3-6, 5-8, 7-10; 3 lines: one window.
  auto index = Bm25Windows::build({{"a.cpp", filler(10, "a")}, {"b.cpp", filler(3, "b")}}, {4, 2});
  ASSERT_TRUE(index) << index.error();
  EXPECT_EQ(index.value().windows(), 5u);
}

TEST(Bm25Windows, TheWindowSharingTheRarestNamesRanksFirst) {
  const std::string target =
      filler(20, "common") + "double geo_norm = point_length(origin);\n" + filler(20, "common");
  auto index = Bm25Windows::build({{"noise.cpp", filler(40, "common")},
                                   {"geo.cpp", target},
                                   {"other.cpp", "int origin = 0;\n" + filler(10, "common")}},
                                  {8, 4});
  ASSERT_TRUE(index) << index.error();
  const auto best = found(index.value(), "auto n = point_length(origin) + common;", "", 2);
  ASSERT_EQ(best.size(), 2u);
  EXPECT_EQ(best[0].substr(0, 8), "geo.cpp:");
  // The runner-up is another file's window: geo.cpp's other windows holding the line
  // overlap the best one and are skipped.
  EXPECT_EQ(best[1].substr(0, 10), "other.cpp:");
}

TEST(Bm25Windows, TheExcludedFileIsNeverReturned) {
  auto index = Bm25Windows::build(
      {{"self.cpp", "int needle_name = 1;\n"}, {"other.cpp", "int needle_name = 2;\n"}});
  ASSERT_TRUE(index) << index.error();
  EXPECT_EQ(found(index.value(), "needle_name", "self.cpp", 5),
            (std::vector<std::string>{"other.cpp:1-1"}));
}

TEST(Bm25Windows, AQueryWithoutNamesOrWithUnknownNamesFindsNothing) {
  auto index = Bm25Windows::build({{"a.cpp", filler(5, "a")}});
  ASSERT_TRUE(index) << index.error();
  EXPECT_TRUE(found(index.value(), "+ - ( ) ;", "", 5).empty());
  EXPECT_TRUE(found(index.value(), "nowhere_to_be_found", "", 5).empty());
  // Quotes and FTS5 operators in the code are not query syntax: here, terms; `a` matches.
  EXPECT_EQ(found(index.value(), "\"a\" AND NOT (x OR * ^ NEAR)", "", 5),
            (std::vector<std::string>{"a.cpp:1-5"}));
}

TEST(Bm25Windows, LinesBeforeTheCursorCountItsOwnLineFirst) {
  const std::string text = "one\ntwo\nthree\nfour";
  EXPECT_EQ(lines_before(text, text.size(), 1), "four");
  EXPECT_EQ(lines_before(text, text.size(), 2), "three\nfour");
  EXPECT_EQ(lines_before(text, 6, 2), "one\ntw");
  EXPECT_EQ(lines_before(text, text.size(), 10), text);
}

}  // namespace
}  // namespace mnemo::server
