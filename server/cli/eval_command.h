// `mnemo eval REPO...`: cross-file completion over repositories' own uses of their
// symbols (eval_cases.h). Each case runs in process through ModelCompleter, as the server
// runs a completion, under each condition with the same model and token budgets:
//  - memory: the repository's memory (the case's own file left out, its text before the
//    cut in the prompt);
//  - no_memory: the text before the cut alone, no memory (checked: no case reads it);
//  - bm25: RepoCoder's retrieval, the best 64-line windows of the other files for the last
//    64 lines before the cut, in the prompt (bm25_windows.h, retrieval_prompt.h);
//  - oracle: the symbol's definition lines in the prompt instead;
//  - symbolic: the repository's names ranked by how often they are used (the symbol
//    index's references), what a plain IDE offers; identifiers only.
// Metrics (eval_metrics.h) with bootstrap 95% intervals, for all cases and for first and
// later uses apart, per repository and macro-averaged (eval_report.h): markdown tables on
// stdout, JSON with --json, a page with --html.
//
// `--needle` measures recall of a planted definition instead (eval_needle.h).
//
// Each repository must have been indexed with the model (`mnemo index REPO --model M`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace CLI {
class App;
}

namespace mnemo::server {

struct EvalCommandOptions {
  std::vector<std::string> repos;
  std::string index_dir;          ///< empty: <repo>/.mnemo (only with one repository)
  nlohmann::json settings_flags;  ///< --model, --memory-window (completion_settings.h)
  std::uint64_t seed = 1;
  std::size_t max_cases = 100;
  std::size_t max_tokens = 24;  ///< per suggestion; a suggestion ends with its line
  std::size_t top_k = 5;        ///< identifier suggestions ranked (beam search alternatives)
  std::size_t typed = 0;        ///< bytes of the name already typed at each case (--typed)
  std::vector<std::string> conditions;  ///< the model conditions to run; empty: all
  std::string json_out;                 ///< empty: none
  std::string html_out;                 ///< empty: none
  std::string cases_out;                ///< empty: none; else one JSON line per case and condition
  /// Empty: none; else one JSON line per case with the signals of its likeliest names (by
  /// prior) and of the answer, for fitting the prior's weights (scripts/fit-name-prior.py).
  std::string features_out;
  bool needle = false;
  std::size_t needle_trials = 20;
  std::vector<std::size_t> needle_memory_tokens;  ///< empty: eval_needle.h's default
};

CLI::App* add_eval_command(CLI::App& app, EvalCommandOptions& options);

/// 0 on success; 1 when the model, the index or the memory cannot be read; 2 on bad usage.
int run_eval(const EvalCommandOptions& options);

}  // namespace mnemo::server
