// The `mnemo` command line: parses arguments, sets up logging, dispatches subcommands.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "model/blas_core.h"
#include "server/cli/bench_command.h"
#include "server/cli/complete_command.h"
#include "server/cli/doctor_command.h"
#include "server/cli/eval_command.h"
#include "server/cli/generate_command.h"
#include "server/cli/index_command.h"
#include "server/cli/train_command.h"
#include "server/cli/train_tokenizer_command.h"
#include "server/names/clang_menu_source.h"
#include "server/session/serve.h"
#include "server/session/version.h"

namespace {

struct LogOptions {
  std::string level = "info";
  std::string file;
};

/// Logs never go to stdout: under `serve` it carries protocol bytes only.
bool setup_logging(const LogOptions& options) {
  try {
    std::shared_ptr<spdlog::logger> logger;
    if (options.file.empty())
      logger = spdlog::stderr_color_mt("mnemo");
    else
      logger = spdlog::basic_logger_mt("mnemo", options.file);
    logger->set_level(spdlog::level::from_str(options.level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
    return true;
  } catch (const spdlog::spdlog_ex& e) {
    std::fprintf(stderr, "mnemo: cannot set up logging: %s\n", e.what());
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  mnemo::model::rerun_with_better_blas_core(argv);
  CLI::App app{"mnemo: code completion that reads the whole repository"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mnemo ") + mnemo::server::kVersion);

  LogOptions log;
  app.add_option("--log-level", log.level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_option("--log-file", log.file, "write logs to this file instead of stderr");

  mnemo::server::ServeOptions serve;
  auto* serve_cmd =
      app.add_subcommand("serve", "Run the language server (LSP over stdio, or TCP with --listen)");
  serve_cmd->add_option("--listen", serve.listen,
                        "serve LSP over TCP on HOST:PORT ([::1]:PORT for IPv6; PORT alone "
                        "listens on 127.0.0.1; port 0 picks a free one and logs it)");
  serve_cmd
      ->add_option("--max-message-bytes", serve.max_message_bytes,
                   "largest accepted JSON-RPC message; larger ones are skipped")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 34))
      ->capture_default_str();
  serve_cmd
      ->add_option("--workers", serve.worker_threads,
                   "completion worker threads (0: one per core, at least 2)")
      ->capture_default_str();

  bool serve_no_index = false;
  std::string serve_index_dir;
  auto* no_index_flag = serve_cmd->add_flag(
      "--no-index", serve_no_index,
      "do not index the workspace's C/C++ symbols (by default the first workspace root is "
      "indexed at start and again when files change)");
  serve_cmd
      ->add_option("--index-dir", serve_index_dir,
                   "where the workspace's symbol index lives (default: ROOT/.mnemo)")
      ->excludes(no_index_flag);
  // The completion settings given as flags: the last layer over each session's repository
  // file and initializationOptions (completion_settings.h).
  auto* model_option = serve_cmd->add_option_function<std::string>(
      "--model",
      [&serve](const std::string& path) {
        serve.settings_flags["model"] = std::filesystem::absolute(path).string();
      },
      "complete inline with this model (GGUF file or Hugging Face folder; default: the "
      "built-in model) reading the workspace's long-term memory, which it keeps: every file "
      "after each index run, and open documents' unsaved text once the user pauses typing "
      "(or \"model\" in the settings: README.md, Configuration)");
  model_option->excludes(no_index_flag);
  serve_cmd
      ->add_flag_function(
          "--no-model", [&serve](std::int64_t) { serve.settings_flags["model"] = ""; },
          "no model, not even the built-in one: the menu's symbols complete alone")
      ->excludes(model_option);
  serve_cmd
      ->add_option_function<std::size_t>(
          "--memory-window",
          [&serve](std::size_t tokens) { serve.settings_flags["memory"]["window"] = tokens; },
          "tokens of context each file is read in (default 1024)")
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option_function<unsigned>(
      "--inline-debounce-ms",
      [&serve](unsigned ms) { serve.settings_flags["inline"]["debounceMs"] = ms; },
      "how long an automatic inline request waits for the next keystroke before the model "
      "runs (default 75)");
  bool serve_identifier_menu = false;
  serve_cmd->add_flag("--identifier-menu", serve_identifier_menu,
                      "list the workspace's identifiers in the completion menu instead of what "
                      "libclang finds valid at the cursor");
  serve_cmd
      ->add_option("--test-completion-delay-ms", serve.test_completion_delay_ms,
                   "for protocol tests: make every completion take this long")
      ->group("");  // hidden from --help

  mnemo::server::GenerateOptions generate;
  auto* generate_cmd = mnemo::server::add_generate_command(app, generate);

  mnemo::server::BenchOptions bench;
  auto* bench_cmd = mnemo::server::add_bench_command(app, bench);

  mnemo::server::CompleteCommandOptions complete;
  auto* complete_cmd = mnemo::server::add_complete_command(app, complete);

  mnemo::server::EvalCommandOptions eval;
  auto* eval_cmd = mnemo::server::add_eval_command(app, eval);

  mnemo::server::IndexCommandOptions index;
  auto* index_cmd = mnemo::server::add_index_command(app, index);
  auto* parse_worker_cmd = mnemo::server::add_parse_worker_command(app);
  mnemo::model::training::TrainOptions train;
  auto* train_cmd = mnemo::server::add_train_command(app, train);
  mnemo::server::TrainTokenizerOptions train_tokenizer;
  auto* train_tokenizer_cmd = mnemo::server::add_train_tokenizer_command(app, train_tokenizer);

  mnemo::server::DoctorOptions doctor;
  auto* doctor_cmd = mnemo::server::add_doctor_command(app, doctor);
  auto* version_cmd = app.add_subcommand("version", "Print the version");

  CLI11_PARSE(app, argc, argv);
  if (!setup_logging(log)) return 2;

  if (*version_cmd) {
    std::cout << "mnemo " << mnemo::server::kVersion << " (" << mnemo::server::kGitRevision
              << ")\n";
    return 0;
  }
  if (*serve_cmd) {
    if (!serve_identifier_menu) {
      auto menu = std::make_shared<mnemo::server::ClangMenuSource>(
          std::vector<std::string>{"/proc/self/exe", "parse-worker"},
          serve_index_dir.empty() ? std::filesystem::path()
                                  : std::filesystem::absolute(serve_index_dir));
      serve.semantic_source = [menu](const mnemo::server::SemanticQuery& query,
                                     const mnemo::lsp::CancellationToken& token) {
        return menu->complete(query, token);
      };
      serve.semantic_prepare = [menu](const mnemo::server::SemanticQuery& query) {
        menu->prepare(query);
      };
    }
    if (!serve_no_index) {
      // The memory keeps itself current from the index runs; idle until the settings name
      // a model.
      auto memory = std::make_shared<mnemo::server::ServeMemory>();
      if (serve.semantic_source) memory->set_compiler_names(serve.semantic_source);
      serve.apply_settings = [memory](const mnemo::server::CompletionSettings& settings) {
        return memory->configure(settings);
      };
      serve.unsaved_edits = mnemo::server::serve_unsaved_edits(serve_index_dir, memory);
      serve.inline_model = [memory](const mnemo::server::ModelInlineRequest& request,
                                    const mnemo::lsp::CancellationToken& token) {
        return memory->complete(request, token);
      };
      serve.menu_ranker = [memory](const mnemo::server::ModelRankRequest& request,
                                   const mnemo::lsp::CancellationToken& token) {
        return memory->rank(request, token);
      };
      serve.symbol_index = mnemo::server::serve_symbol_index(serve_index_dir, memory);
    }
    return mnemo::server::serve(serve);
  }
  if (*doctor_cmd) return mnemo::server::run_doctor(doctor);
  if (*generate_cmd) return mnemo::server::run_generate(generate);
  if (*bench_cmd) return mnemo::server::run_bench(*bench_cmd, bench);
  if (*index_cmd) return mnemo::server::run_index(index);
  if (*complete_cmd) return mnemo::server::run_complete(complete);
  if (*eval_cmd) return mnemo::server::run_eval(eval);
  if (*parse_worker_cmd) return mnemo::server::run_parse_worker_command();
  if (*train_cmd) return mnemo::server::run_train(train);
  if (*train_tokenizer_cmd) return mnemo::server::run_train_tokenizer(train_tokenizer);
  return 2;
}
