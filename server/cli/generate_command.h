// `mnemo generate`: runs a model on a prompt (or a fill-in-the-middle pair) and prints the
// continuation. stdout carries only the generated text (or, with --json, one JSON object);
// everything else goes to the log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace mnemo::server {

struct GenerateOptions {
  std::string model;
  std::string prompt;
  std::string prompt_file;
  std::string fim_prefix;
  std::string fim_suffix;
  std::size_t max_tokens = 64;
  float temperature = 0.0f;
  std::size_t top_k = 0;
  float top_p = 1.0f;
  std::uint64_t seed = 0;
  bool stop_at_newline = false;
  bool stop_at_brackets = false;
  bool stop_at_eos = false;
  std::vector<std::string> stop_strings;
  std::size_t beam_width = 0;
  std::size_t n_best = 1;
  std::size_t context = 4096;
  int threads = 0;
  bool json = false;
};

/// Adds the `generate` subcommand's options, bound to `options`.
CLI::App* add_generate_command(CLI::App& app, GenerateOptions& options);

/// Returns the process exit code: 0, 1 on a model or input error (logged), 2 on bad usage.
int run_generate(const GenerateOptions& options);

}  // namespace mnemo::server
