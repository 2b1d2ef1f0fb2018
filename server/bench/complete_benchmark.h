// `mnemo bench complete` (not a test): the server-side latency of an
// inline completion of a fixed number of tokens against the size of the repository's
// memory, as one JSON object.
//
// The queries are cursors in the C/C++ files of a tree (--repo), each with its file's text
// as the prompt (prefix and suffix within their budgets). Each memory size gets a tier of
// its own, with the model's memory geometry and random keys and values (retrieval's cost
// depends on the number of blocks, not on what they hold); then every query runs against
// every size and against no memory, interleaved query by query, so all see the same
// machine. Each completion generates exactly max_tokens tokens (no stop rule).
//
// A second pass asks the same completions as an editor does and times them as it sees them:
// textDocument/inlineCompletion (automatic, no debounce) through the server's own LSP session
// over a socket (bench_lsp_client.h), after didOpen, then after a didChange typing one
// character.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "server/completion/completion_settings.h"

namespace mnemo::server {

struct CompleteBenchmarkOptions {
  std::string model;
  std::string repo = ".";
  std::vector<std::int64_t> sizes{100'000, 1'000'000, 5'000'000};
  std::size_t queries = 20;
  std::size_t max_tokens = 16;
  std::size_t prefix_tokens = 1536, suffix_tokens = 512;
  std::uint64_t seed = 1;
  /// The memory's share of each next token (ModelCompleter::set_next_token_weight; the
  /// default of CompletionSettings::memory_next_token_weight).
  float next_token_weight = CompletionSettings{}.memory_next_token_weight;
};

/// {"config", "no_memory": {p50_ms, p99_ms, ..., "keystroke", "client": {"fresh",
/// "keystroke"}}, "results": [{memory_tokens, p50_ms, p99_ms, ..., "keystroke", "client"}],
/// "ratio_p50_largest_to_smallest", "client_keystrokes_typed_ahead"}. Progress goes to std::cerr.
/// Throws std::runtime_error when the model cannot be loaded or the tree has no C/C++ file.
nlohmann::json run_complete_benchmark(const CompleteBenchmarkOptions& options);

}  // namespace mnemo::server
