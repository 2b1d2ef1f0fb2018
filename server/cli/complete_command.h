// `mnemo complete`: the model's suggestions at a cursor, from the command line.
// The evaluation harness and external tools use it; its input and output formats
// are a stable interface (docs/protocol.md, "mnemo complete").
//
//   mnemo complete FILE:LINE:COL            one query; LINE and COL 0-based, COL in UTF-8 bytes
//   mnemo complete --batch QUERIES.jsonl    one JSON query a line ("-": standard input)
//
// A query is {"file": path, "line": n, "col": n, "text": optional contents to use instead
// of the file's, "exclude_file_from_memory": optional bool (default true), "max_tokens":
// optional n}; paths are relative to the repository (or absolute inside it). Each answer
// is one JSON line, in the queries' order: {"suggestions": [{"text", "score"}, ...],
// "latency_ms": n}, where text is what is inserted at the cursor, or {"error": message,
// "latency_ms": n} for a query that cannot be answered. The repository is the current
// folder (or --repo), its memory the one `mnemo index --model` wrote (or none with
// --no-memory). The model and its budgets come from the flags, else from the repository's
// .mnemo/config.json (completion_settings.h).
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace CLI {
class App;
}

namespace mnemo::server {

struct CompleteCommandOptions {
  std::string query;  ///< FILE:LINE:COL
  std::string batch;  ///< a JSON-lines file, or "-"
  std::string repo = ".";
  std::string index_dir;  ///< empty: <repo>/.mnemo
  /// The flags' settings layer (completion_settings.h), over <repo>/.mnemo/config.json:
  /// the model, the memory's window, top-k and budget, the prompt's budgets.
  nlohmann::json settings_flags;
  bool no_memory = false;
  std::size_t max_tokens = 48;
  std::size_t alternatives = 1;
};

CLI::App* add_complete_command(CLI::App& app, CompleteCommandOptions& options);

/// 0 when every query was answered (an answer may be an error line), 1 when the model or
/// the memory cannot be loaded, 2 on bad usage.
int run_complete(const CompleteCommandOptions& options);

}  // namespace mnemo::server
