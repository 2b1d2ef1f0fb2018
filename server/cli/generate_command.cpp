#include "server/cli/generate_command.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "model/decoding/beam_search.h"
#include "model/decoding/fim_prompt.h"
#include "model/decoding/generate.h"
#include "model/model_loader.h"
#include "model/transformer_session.h"
#include "server/completion/builtin_model.h"

namespace mnemo::server {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

nlohmann::json generation_json(const model::Generation& g) {
  double decode_ms = 0;
  for (double ms : g.timing.decode_ms) decode_ms += ms;
  const auto n_decoded = static_cast<double>(g.timing.decode_ms.size());
  return {{"text", g.text},
          {"tokens", g.tokens},
          {"stop_reason", model::to_string(g.stop_reason)},
          {"logprob", g.logprob},
          {"timings",
           {{"prompt_ms", g.timing.prompt_ms},
            {"decode_ms", decode_ms},
            {"decode_steps", g.timing.decode_ms.size()},
            {"decode_ms_per_token", n_decoded > 0 ? decode_ms / n_decoded : 0.0},
            {"decode_tokens_per_s", decode_ms > 0 ? 1000.0 * n_decoded / decode_ms : 0.0},
            {"total_ms", g.timing.total_ms}}}};
}

}  // namespace

CLI::App* add_generate_command(CLI::App& app, GenerateOptions& o) {
  auto* cmd =
      app.add_subcommand("generate", "Continue a prompt with a model (GGUF file or HF folder)");
  cmd->add_option("--model", o.model,
                  "a .gguf file or a Hugging Face folder (default: the built-in model)");
  auto* prompt = cmd->add_option("--prompt", o.prompt,
                                 "the prompt; special-token names in it (e.g. <|fim_prefix|>) "
                                 "become those tokens");
  auto* prompt_file =
      cmd->add_option("--prompt-file", o.prompt_file, "read the prompt from a file");
  auto* prefix =
      cmd->add_option("--fim-prefix", o.fim_prefix, "fill in the middle: code before the cursor");
  auto* suffix =
      cmd->add_option("--fim-suffix", o.fim_suffix, "fill in the middle: code after the cursor");
  prompt->excludes(prompt_file)->excludes(prefix)->excludes(suffix);
  prompt_file->excludes(prefix)->excludes(suffix);
  cmd->add_option("--max-tokens,-n", o.max_tokens, "the most tokens to generate")
      ->capture_default_str();
  cmd->add_option("--temperature", o.temperature, "0 decodes greedily")
      ->check(CLI::Range(0.0f, 100.0f))
      ->capture_default_str();
  cmd->add_option("--top-k", o.top_k, "sample among the k likeliest tokens (0: all)");
  cmd->add_option("--top-p", o.top_p, "nucleus sampling")->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--seed", o.seed, "random seed for sampling")->capture_default_str();
  cmd->add_flag("--stop-at-newline", o.stop_at_newline, "stop at the end of the line");
  cmd->add_flag("--stop-at-brackets", o.stop_at_brackets,
                "stop when the text closes a bracket it did not open");
  cmd->add_flag("--stop-at-eos", o.stop_at_eos, "stop at the model's end-of-generation token");
  cmd->add_option("--stop", o.stop_strings, "stop before this text (repeatable)");
  cmd->add_option("--beam", o.beam_width, "beam search with this many beams (0: off)");
  cmd->add_option("--n-best", o.n_best, "with --beam: how many results to print")
      ->capture_default_str();
  cmd->add_option("--context", o.context, "KV cache size in tokens")->capture_default_str();
  cmd->add_option("--threads", o.threads, "CPU threads (0: LibTorch's default)");
  cmd->add_flag("--json", o.json, "print one JSON object with the text, token ids and timings");
  return cmd;
}

int run_generate(const GenerateOptions& o) {
  if (o.threads > 0) at::set_num_threads(o.threads);
  const std::string model_path = o.model.empty() ? builtin_model_dir().string() : o.model;
  if (model_path.empty()) {
    spdlog::error("no model: pass --model (this build has no built-in model)");
    return 2;
  }
  const auto load_start = Clock::now();
  auto loaded = model::load_model(model_path);
  if (!loaded) {
    spdlog::error("{}", loaded.error().message);
    return 1;
  }
  const double load_ms = ms_since(load_start);
  const model::Tokenizer& tokenizer = *loaded.value().tokenizer;

  std::string prompt_text = o.prompt;
  if (!o.prompt_file.empty()) {
    std::ifstream in(o.prompt_file, std::ios::binary);
    if (!in) {
      spdlog::error("{}: cannot be read", o.prompt_file);
      return 1;
    }
    prompt_text.assign(std::istreambuf_iterator<char>(in), {});
  }
  model::Tokens prompt;
  if (!o.fim_prefix.empty() || !o.fim_suffix.empty()) {
    auto fim = model::fim_prompt(tokenizer, o.fim_prefix, o.fim_suffix);
    if (!fim) {
      spdlog::error("{}", fim.error().message);
      return 1;
    }
    prompt = std::move(fim).value();
  } else {
    prompt = tokenizer.encode(prompt_text, /*add_special=*/true, /*parse_special=*/true);
  }
  if (prompt.empty()) {
    spdlog::error("the prompt is empty (and the model adds no BOS token)");
    return 2;
  }

  model::TransformerSession session(loaded.value().transformer, o.context);
  model::StopRules stop;
  stop.end_of_line = o.stop_at_newline;
  stop.balanced_brackets = o.stop_at_brackets;
  stop.end_of_generation = o.stop_at_eos;
  stop.stop_strings = o.stop_strings;

  std::vector<model::Generation> results;
  if (o.beam_width > 0) {
    model::BeamSearchRequest request;
    request.beam_width = o.beam_width;
    request.n_best = o.n_best;
    request.max_tokens = o.max_tokens;
    request.stop = stop;
    auto beams = model::beam_search(session, tokenizer, prompt, request);
    if (!beams) {
      spdlog::error("{}", beams.error().message);
      return 1;
    }
    results = std::move(beams).value();
  } else {
    model::GenerationRequest request;
    request.max_tokens = o.max_tokens;
    request.sampling = {o.temperature, o.top_k, o.top_p, o.seed};
    request.stop = stop;
    if (!o.json) {
      request.on_text = [](std::string_view piece) {
        std::cout.write(piece.data(), piece.size()).flush();
      };
    }
    auto generation = model::generate(session, tokenizer, prompt, request);
    if (!generation) {
      spdlog::error("{}", generation.error().message);
      return 1;
    }
    results.push_back(std::move(generation).value());
  }

  if (o.json) {
    nlohmann::json out = generation_json(results.front());
    out["prompt_tokens"] = prompt;
    out["load_ms"] = load_ms;
    if (o.beam_width > 0) {
      out["n_best"] = nlohmann::json::array();
      for (const auto& g : results) out["n_best"].push_back(generation_json(g));
    }
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else if (o.beam_width > 0) {
    std::cout << results.front().text;  // the n-best list needs --json
  }
  std::cout.flush();
  return 0;
}

}  // namespace mnemo::server
