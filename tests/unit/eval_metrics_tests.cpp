// The evaluation's metrics (server/eval/eval_metrics.h) against hand-worked examples.
#include "server/eval/eval_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace mnemo::server {
namespace {

TEST(EvalMetrics, NormalizedCodeDropsCommentsBlankLinesAndIndentation) {
  EXPECT_EQ(normalized_code("  int x = 1;  // one\n\n\t/* a\n  block */ return x;\r\n"),
            "int x = 1;\nreturn x;");
  // Comment markers inside literals are text.
  EXPECT_EQ(normalized_code("s = \"// not a comment\"; c = '/'; // gone"),
            "s = \"// not a comment\"; c = '/';");
  EXPECT_EQ(normalized_code("f(\"a\\\"/*\") /* gone */;"), "f(\"a\\\"/*\")  ;");
  EXPECT_EQ(normalized_code("/* only a comment */\n  \n"), "");
}

TEST(EvalMetrics, ExactMatchComparesNormalizedCode) {
  EXPECT_TRUE(exact_match("return norm(p);  // done", "  return norm(p);"));
  EXPECT_TRUE(exact_match("a;\n\n  b;", "a;\nb;"));
  EXPECT_FALSE(exact_match("return norm(p)", "return norm(p);"));
  EXPECT_FALSE(exact_match("a b", "a  b"));  // spaces inside a line count
}

TEST(EvalMetrics, EditSimilarityIsTheLevenshteinRatio) {
  // kitten -> sitting: two substitutions (2 each) and an insertion: d = 5 over 6 + 7 bytes,
  // 100 * 8 / 13 = 61.54 (fuzzywuzzy's fuzz.ratio rounds it to 62).
  EXPECT_NEAR(edit_similarity("kitten", "sitting"), 100.0 * 8 / 13, 1e-9);
  EXPECT_DOUBLE_EQ(edit_similarity("norm(p)", "norm(p)"), 100.0);
  EXPECT_DOUBLE_EQ(edit_similarity("", ""), 100.0);
  EXPECT_DOUBLE_EQ(edit_similarity("abc", ""), 0.0);
  EXPECT_DOUBLE_EQ(edit_similarity("ab", "ba"), 50.0);  // d = 2 (one deletion, one insertion)
  EXPECT_DOUBLE_EQ(edit_similarity("kitten", "sitting"), edit_similarity("sitting", "kitten"));
}

TEST(EvalMetrics, IdentifiersAreNamesInOrderWithoutNumbers) {
  EXPECT_EQ(identifiers_in("geo::norm(p, 2) + x_1;"),
            (std::vector<std::string>{"geo", "norm", "p", "x_1"}));
}

TEST(EvalMetrics, IdentifierMatchIsExactInOrderAndF1AsMultisets) {
  EXPECT_TRUE(identifier_match("norm(p)  // p", "norm( p );").exact);
  // Predicted {geo, norm, q}, expected {geo, norm, p, p}: 2 in common; precision 2/3,
  // recall 2/4, F1 = 2 * (2/3) * (1/2) / (2/3 + 1/2) = 4/7.
  const IdentifierMatch m = identifier_match("geo::norm(q)", "geo::norm(p, p)");
  EXPECT_FALSE(m.exact);
  EXPECT_NEAR(m.f1, 4.0 / 7.0, 1e-12);
  EXPECT_DOUBLE_EQ(identifier_match("x", "y").f1, 0.0);
  EXPECT_DOUBLE_EQ(identifier_match(");", ";").f1, 1.0);  // no identifiers on either side
  EXPECT_FALSE(identifier_match("norm norm", "norm").exact);
}

TEST(EvalMetrics, RankAndReciprocalRank) {
  const std::vector<std::string> ranked = {"norm", "origin", "Point"};
  EXPECT_EQ(rank_of(ranked, "norm"), 1u);
  EXPECT_EQ(rank_of(ranked, "Point"), 3u);
  EXPECT_EQ(rank_of(ranked, "x"), 0u);
  EXPECT_DOUBLE_EQ(reciprocal_rank(3), 1.0 / 3);
  EXPECT_DOUBLE_EQ(reciprocal_rank(0), 0.0);
}

TEST(EvalMetrics, BootstrapIntervalContainsTheMeanAndNarrowsWithMoreCases) {
  const Interval one = bootstrap_mean({0.5});
  EXPECT_DOUBLE_EQ(one.low, 0.5);
  EXPECT_DOUBLE_EQ(one.high, 0.5);
  std::vector<double> few, many;
  for (int i = 0; i < 20; ++i) few.push_back(i % 2);
  for (int i = 0; i < 2000; ++i) many.push_back(i % 2);
  const Interval a = bootstrap_mean(few, 3), b = bootstrap_mean(many, 3);
  EXPECT_DOUBLE_EQ(a.mean, 0.5);
  EXPECT_LT(a.low, 0.5);
  EXPECT_GT(a.high, 0.5);
  EXPECT_LT(b.high - b.low, a.high - a.low);
  // Binomial: the 95% half-width at p = 0.5, n = 2000 is about 1.96 * 0.5 / sqrt(2000).
  EXPECT_NEAR((b.high - b.low) / 2, 1.96 * 0.5 / std::sqrt(2000.0), 0.005);
  EXPECT_EQ(bootstrap_mean(few, 3).low, a.low);  // the seed decides
}

TEST(EvalMetrics, MacroAverageWeighsEachRepositoryEquallyWhateverItsCases) {
  // A small repository at 1 and a large one at 0: the macro mean is 0.5, not 1/101.
  const std::vector<double> small(10, 1.0), large(1000, 0.0);
  const Interval macro = bootstrap_macro_mean({small, large, {}});
  EXPECT_DOUBLE_EQ(macro.mean, 0.5);
  EXPECT_DOUBLE_EQ(macro.low, 0.5);  // no repository's cases vary
  EXPECT_DOUBLE_EQ(macro.high, 0.5);
  std::vector<double> mixed;
  for (int i = 0; i < 200; ++i) mixed.push_back(i % 2);
  const Interval m = bootstrap_macro_mean({mixed, large}, 5);
  EXPECT_DOUBLE_EQ(m.mean, 0.25);
  // Only the mixed repository varies: half its own half-width.
  EXPECT_NEAR((m.high - m.low) / 2, 0.5 * 1.96 * 0.5 / std::sqrt(200.0), 0.01);
  const Interval one = bootstrap_macro_mean({mixed}, 5);
  EXPECT_EQ(one.low, bootstrap_mean(mixed, 5).low);
  EXPECT_EQ(one.high, bootstrap_mean(mixed, 5).high);
}

}  // namespace
}  // namespace mnemo::server
