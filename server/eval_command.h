// `mnemo eval REPO` (issue 7): cross-file completion over a repository's own uses of its
// symbols (eval_cases.h). Each case runs in process through ModelCompleter, as the server
// runs a completion, twice: with the repository's memory (the case's own file left out,
// its text before the cut in the prompt) and without any memory, the same model and
// budgets. Beside them, the symbolic baseline: the repository's names ranked by how often
// they are used (the symbol index's references), what a plain IDE offers. Metrics (eval_metrics.h)
// with bootstrap 95% intervals, for all cases and for first and later uses apart: a markdown table
// on stdout, the same as JSON with --json.
//
// The repository must have been indexed with the model (`mnemo index REPO --model M`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace CLI {
class App;
}

namespace mnemo::server {

struct EvalCommandOptions {
  std::string repo;
  std::string index_dir;          ///< empty: <repo>/.mnemo
  nlohmann::json settings_flags;  ///< --model, --memory-window (completion_settings.h)
  std::uint64_t seed = 1;
  std::size_t max_cases = 100;
  std::size_t max_tokens = 24;  ///< per suggestion; a suggestion ends with its line
  std::size_t top_k = 5;        ///< identifier suggestions ranked (beam search alternatives)
  std::string json_out;         ///< empty: none
};

CLI::App* add_eval_command(CLI::App& app, EvalCommandOptions& options);

/// 0 on success; 1 when the model, the index or the memory cannot be read; 2 on bad usage.
int run_eval(const EvalCommandOptions& options);

}  // namespace mnemo::server
