// The evaluation's report (server/eval/eval_report.h): each lever's gain, paired by case.
#include "server/eval/eval_report.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mnemo::server {
namespace {

CaseScores scored(double top1) {
  CaseScores s;
  s.top1 = s.top5 = s.mrr = top1;
  s.es = 50 * top1;
  return s;
}

/// 40 cases: the full system gets cases 0-19 right, without the memory cases 0-9, without
/// the names held cases 0-4.
RepositoryScores memory_helps_in_ten_cases() {
  RepositoryScores scores;
  for (int i = 0; i < 40; ++i) {
    scores["full"]["all"].push_back(scored(i < 20 ? 1 : 0));
    scores["no_memory"]["all"].push_back(scored(i < 10 ? 1 : 0));
    scores["no_constraint"]["all"].push_back(scored(i < 5 ? 1 : 0));
  }
  return scores;
}

TEST(EvalReport, TheMemorysGainIsPairedByCaseAndNarrowerThanTheConditionsIntervals) {
  const auto summary = summarize_repository(memory_helps_in_ten_cases(), 1);
  const auto& with = summary["full"]["all"]["identifier_top1"];
  const auto& without = summary["no_memory"]["all"]["identifier_top1"];
  // The two conditions' own intervals overlap...
  EXPECT_LT(with["low"].get<double>(), without["high"].get<double>());
  // ...but the gain, each case against itself, is above zero.
  const auto& gain = summary["memory_gain"]["all"];
  EXPECT_EQ(gain["n"], 40);
  EXPECT_DOUBLE_EQ(gain["identifier_top1"]["mean"].get<double>(), 0.25);
  EXPECT_GT(gain["identifier_top1"]["low"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(gain["line_edit_similarity"]["mean"].get<double>(), 12.5);
  EXPECT_NE(markdown_table(summary).find("| memory_gain | all | 40 | 25.0 ["), std::string::npos)
      << markdown_table(summary);
  // Each lever with both of its conditions gets its row; one without them gets none.
  EXPECT_DOUBLE_EQ(summary["constraint_gain"]["all"]["identifier_top1"]["mean"].get<double>(),
                   0.375);
  EXPECT_FALSE(summary.contains("declarations_gain"));
}

TEST(EvalReport, NoGainIsReportedWhenTheConditionsScoredDifferentCases) {
  RepositoryScores scores = memory_helps_in_ten_cases();
  scores["no_memory"]["all"].pop_back();
  EXPECT_FALSE(summarize_repository(scores, 1).contains("memory_gain"));
}

}  // namespace
}  // namespace mnemo::server
