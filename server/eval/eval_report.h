// The evaluation's report: each case's scores under each condition,
// summarized per repository and macro-averaged across repositories, with bootstrap 95%
// intervals; written as markdown tables, as JSON, and as one self-contained HTML page.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/eval/eval_metrics.h"

namespace mnemo::server {

/// One case's scores under one condition.
struct CaseScores {
  double top1 = 0, top5 = 0, mrr = 0;           ///< identifier level
  bool wrote_line = true;                       ///< false: identifiers only (no line metrics)
  double em = 0, es = 0, id_em = 0, id_f1 = 0;  ///< line level
  double latency_ms = 0;
  bool read_memory = false;
};

/// The conditions in the order they are reported: the full system (the names held, the
/// declarations in the prompt, the memory), the same without each lever, its baselines
/// (same model and budgets), then the symbol index alone.
inline const std::vector<std::string>& eval_conditions() {
  static const std::vector<std::string> names{
      "full", "no_constraint", "no_declarations", "no_memory", "bm25", "oracle", "symbolic"};
  return names;
}
/// The cases' groups: all of them; a symbol's first use in its file apart from its later;
/// a member access (after `.`, `->` or `::`) apart from any other site.
inline const std::vector<std::string>& eval_groups() {
  static const std::vector<std::string> names{"all", "first_use", "later_use", "member", "other"};
  return names;
}
/// What each lever gains, paired by case: {gain's name, the full system, without the lever}.
struct EvalGain {
  const char* name;
  const char* with;
  const char* without;
};
inline const std::vector<EvalGain>& eval_gains() {
  static const std::vector<EvalGain> gains{{"memory_gain", "full", "no_memory"},
                                           {"constraint_gain", "full", "no_constraint"},
                                           {"declarations_gain", "full", "no_declarations"}};
  return gains;
}

/// {"mean", "low", "high"}: how every interval is reported.
nlohmann::json interval_json(const Interval& interval);

/// One repository's scores: condition -> group -> one per case.
using RepositoryScores = std::map<std::string, std::map<std::string, std::vector<CaseScores>>>;

/// condition -> group -> {"n", a metric -> {"mean", "low", "high"}, ...}: identifier top-1,
/// top-5 and MRR; for conditions that wrote lines also line exact match, edit similarity,
/// identifier EM and F1, latency p50/p95 and how many cases read the memory. And each of
/// eval_gains() -> group -> the same metrics' means and intervals of each case's score with
/// the lever less its score without (a paired bootstrap).
nlohmann::json summarize_repository(const RepositoryScores& scores, std::uint64_t seed);

/// The same shape across repositories: each metric the mean of the repositories' means,
/// its interval a bootstrap that draws every repository's cases from that repository;
/// latency percentiles over all cases; n the cases in all.
nlohmann::json macro_average(const std::vector<RepositoryScores>& repositories, std::uint64_t seed);

/// One summary (either of the above) as a markdown table.
std::string markdown_table(const nlohmann::json& summary);

/// The whole report (`mnemo eval --json`'s object) as one HTML page with no outside
/// resources: the configuration, each repository's table and the macro-average's.
std::string html_report(const nlohmann::json& report);

}  // namespace mnemo::server
