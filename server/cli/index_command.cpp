#include "server/cli/index_command.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "indexer/memory_indexer.h"
#include "indexer/parse_worker.h"
#include "indexer/repository_indexer.h"
#include "model/model_loader.h"

namespace mnemo::server {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_interrupted{false};

void on_interrupt(int /*signal*/) {
  g_interrupted.store(true);
}

std::string duration_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%lld:%02lld", s / 60, s % 60);
  return buffer;
}

/// One line redrawn in place on a terminal, at most ten times a second.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled), start_(Clock::now()) {}

  void update(const indexer::IndexProgress& p) {
    if (!enabled_) return;
    const auto now = Clock::now();
    const bool last = p.current.empty();
    if (!last && now - drawn_ < std::chrono::milliseconds(100)) return;
    drawn_ = now;
    // The stage's own clock when it has one: the memory's rates start after the symbols.
    const double elapsed =
        p.seconds > 0 ? p.seconds : std::chrono::duration<double>(now - start_).count();
    const double fraction =
        p.bytes_total > 0 ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total)
                          : 1.0;
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(static_cast<std::size_t>(filled), '=');
    if (filled < kWidth)
      bar += '>' + std::string(static_cast<std::size_t>(kWidth - filled - 1), ' ');
    const double files_per_s = elapsed > 0 ? static_cast<double>(p.files_done) / elapsed : 0;
    const double mb_per_s = elapsed > 0 ? static_cast<double>(p.bytes_done) / elapsed / 1e6 : 0;
    const double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
    std::string name = p.current;
    if (name.size() > 40) name = "..." + name.substr(name.size() - 37);
    if (p.stage == "memory") {
      const double tokens_per_s = elapsed > 0 ? static_cast<double>(p.tokens_done) / elapsed : 0;
      std::fprintf(stderr, "\rmemory [%s] %zu/%zu files  %.0f tokens/s  ETA %s  %-40s", bar.c_str(),
                   p.files_done, p.files_total, tokens_per_s, duration_text(eta).c_str(),
                   name.c_str());
    } else {
      std::fprintf(stderr, "\r[%s] %zu/%zu files  %.1f files/s  %.2f MB/s  ETA %s  %-40s",
                   bar.c_str(), p.files_done, p.files_total, files_per_s, mb_per_s,
                   duration_text(eta).c_str(), name.c_str());
    }
    if (last) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  Clock::time_point start_, drawn_;
};

indexer::IndexOptions to_index_options(const IndexCommandOptions& o) {
  indexer::IndexOptions options;
  options.root = o.root;
  options.index_dir = o.index_dir;
  if (!o.compile_commands.empty()) options.compile_commands_dir = fs::path(o.compile_commands);
  options.walk.max_file_bytes = o.max_file_bytes;
  if (!o.in_process) options.parse_worker = {"/proc/self/exe", "parse-worker"};
  options.parse_timeout =
      std::chrono::milliseconds(static_cast<long long>(o.parse_timeout_s * 1000));
  options.parse_jobs =
      o.jobs != 0 ? o.jobs : std::max<std::size_t>(1, std::thread::hardware_concurrency());
  for (const std::string& folder : o.skip_folders) options.walk.skipped_folders.push_back(folder);
  return options;
}

/// What the memory reads: the defaults with the repository's .mnemo/config.json overrides.
indexer::ContentRules content_rules(const IndexCommandOptions& o) {
  std::vector<std::string> problems;
  const CompletionSettings settings =
      resolve_settings(fs::absolute(o.root), nlohmann::json(), nlohmann::json(), problems);
  indexer::ContentRules rules;
  rules.include = settings.memory_include;
  rules.exclude = settings.memory_exclude;
  return rules;
}

int run_status(const IndexCommandOptions& o) {
  auto status = indexer::index_status(to_index_options(o));
  if (!status) {
    std::cerr << "mnemo index: " << status.error().message << "\n";
    return 1;
  }
  const indexer::IndexStatus& s = status.value();
  if (o.json) {
    nlohmann::json j = {{"exists", s.exists},         {"files", s.files_total},
                        {"current", s.files_current}, {"changed", s.changed},
                        {"missing", s.missing},       {"removed", s.removed}};
    if (s.age_seconds) j["age_seconds"] = *s.age_seconds;
    j["memory_reads"] = content_rules(o).describe();
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  if (!s.exists) {
    std::cout << "not indexed yet: " << s.files_total << " C/C++ files to index\n";
    return 0;
  }
  std::cout << s.files_current << "/" << s.files_total << " files indexed and current\n";
  const auto list = [](const char* what, const std::vector<std::string>& paths) {
    if (paths.empty()) return;
    std::cout << paths.size() << " " << what << ":";
    for (std::size_t i = 0; i < paths.size() && i < 10; ++i) std::cout << " " << paths[i];
    std::cout << (paths.size() > 10 ? " ...\n" : "\n");
  };
  list("changed since indexed", s.changed);
  list("not indexed yet", s.missing);
  list("gone from the repository", s.removed);
  if (s.age_seconds) std::cout << "last written " << duration_text(*s.age_seconds) << " ago\n";
  std::cout << "memory: " << content_rules(o).describe() << "\n";
  return 0;
}

double tokens_per_s(const indexer::MemoryIndexReport& m) {
  return m.encode_seconds > 0 ? static_cast<double>(m.tokens_encoded) / m.encode_seconds : 0.0;
}

nlohmann::json memory_json(const indexer::MemoryIndexReport& m) {
  nlohmann::json failed = nlohmann::json::array();
  for (const auto& f : m.failed) failed.push_back({{"path", f.path}, {"reason", f.reason}});
  return {{"files", m.files_total},
          {"encoded", m.files_encoded},
          {"unchanged", m.files_unchanged},
          {"removed", m.files_removed},
          {"left_out", m.left_out},
          {"failed", failed},
          {"tokens_encoded", m.tokens_encoded},
          {"tokens_per_s", tokens_per_s(m)},
          {"recreated", m.recreated},
          {"cancelled", m.cancelled},
          {"encode_seconds", m.encode_seconds},
          {"store_seconds", m.store_seconds},
          {"total_seconds", m.total_seconds}};
}

void print_memory(const indexer::MemoryIndexReport& m) {
  std::cout << "memory: encoded " << m.files_encoded << " (" << m.tokens_encoded << " tokens, "
            << static_cast<long long>(tokens_per_s(m)) << " tokens/s), unchanged "
            << m.files_unchanged << ", removed " << m.files_removed << ", failed "
            << m.failed.size() << " of " << m.files_total << " files"
            << (m.recreated ? " (made anew for this model)" : "") << "\n";
  if (!m.left_out.empty()) {
    std::cout << "memory: left out";
    const char* separator = " ";
    for (const auto& [reason, n] : m.left_out) {
      std::cout << separator << n << " " << reason;
      separator = ", ";
    }
    std::cout << " (mnemo index --status says what it reads)\n";
  }
  for (const auto& f : m.failed) std::cout << "  failed: " << f.path << ": " << f.reason << "\n";
}

/// The model whose memory the run keeps: --model, else the settings' (the repository's
/// config file, else the built-in model); empty with --no-model.
std::string memory_model(const IndexCommandOptions& o) {
  if (o.no_model) return {};
  if (!o.model.empty()) return o.model;
  std::vector<std::string> problems;
  const CompletionSettings settings =
      resolve_settings(fs::absolute(o.root), nlohmann::json(), nlohmann::json(), problems);
  for (const std::string& problem : problems) spdlog::warn("settings: {}", problem);
  return settings.model.string();
}

model::Result<indexer::MemoryIndexReport, indexer::IndexRunError> update_memory(
    const IndexCommandOptions& o, const std::string& model_path,
    const std::vector<indexer::WalkedFile>& files, ProgressBar& bar) {
  auto loaded = model::load_model(model_path);
  if (!loaded) return indexer::IndexRunError{loaded.error().message};
  const indexer::IndexOptions options = to_index_options(o);
  auto memory_options = indexer::MemoryIndexOptions::in_index(indexer::index_dir_of(options));
  memory_options.window = o.memory_window;
  memory_options.content = content_rules(o);
  auto memory =
      indexer::MemoryIndexer::open(loaded.value(), memory_model_id(model_path), memory_options);
  if (!memory) return memory.error();
  return memory.value()->update(
      options.root, files, [&](const indexer::IndexProgress& p) { bar.update(p); }, &g_interrupted);
}

}  // namespace

CLI::App* add_index_command(CLI::App& app, IndexCommandOptions& o) {
  auto* cmd = app.add_subcommand(
      "index", "Index a repository's C/C++ symbols (re-reads only what changed since last time)");
  cmd->add_option("path", o.root, "the repository")->capture_default_str();
  cmd->add_option("--index-dir", o.index_dir, "where the index lives (default: PATH/.mnemo)");
  cmd->add_option("--compile-commands", o.compile_commands,
                  "the folder of compile_commands.json (default: PATH, then PATH/build)");
  cmd->add_option("--max-file-size", o.max_file_bytes, "skip files larger than this many bytes")
      ->capture_default_str();
  cmd->add_option("--skip-folder", o.skip_folders,
                  "never enter folders of this name (vendored or generated code); repeatable");
  cmd->add_option("--jobs,-j", o.jobs, "files parsed at once (default: one per hardware thread)");
  cmd->add_option("--parse-timeout", o.parse_timeout_s,
                  "seconds libclang may spend on one file before its worker is killed")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  auto* model = cmd->add_option(
      "--model", o.model,
      "stream every file through this model (GGUF file or Hugging Face folder) into the "
      "long-term memory in the index folder (default: \"model\" in PATH/.mnemo/config.json, "
      "else the built-in model)");
  cmd->add_flag("--no-model", o.no_model, "index the symbols only, no memory")->excludes(model);
  cmd->add_option("--memory-window", o.memory_window,
                  "tokens of context each file is read into the memory in")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--status", o.status, "show what is indexed and how stale; index nothing");
  cmd->add_flag("--json", o.json, "print the report as JSON");
  cmd->add_option("--test-file-delay-ms", o.test_file_delay_ms)->group("");  // hidden
  cmd->add_flag("--in-process", o.in_process)->group("");                    // hidden
  return cmd;
}

CLI::App* add_parse_worker_command(CLI::App& app) {
  return app.add_subcommand("parse-worker")->group("");  // hidden: started by `mnemo index`
}

int run_parse_worker_command() {
  return indexer::run_parse_worker(std::cin, std::cout);
}

WorkspaceSymbolIndexOptions serve_symbol_index(const std::string& index_dir,
                                               std::shared_ptr<ServeMemory> memory) {
  WorkspaceSymbolIndexOptions symbol_index;
  if (!index_dir.empty()) symbol_index.index_dir = fs::absolute(index_dir);
  if (memory) symbol_index.watch_every_file = [memory] { return memory->has_model(); };
  // Half the cores: the editor and the completion workers share the machine with it.
  const std::size_t jobs = std::max(1u, std::thread::hardware_concurrency() / 2);
  symbol_index.run = [dir = symbol_index.index_dir, jobs, memory](
                         const fs::path& root, const SymbolIndexProgress& progress,
                         const std::atomic<bool>& cancel)
      -> model::Result<indexer::IndexReport, SymbolIndexFailure> {
    indexer::IndexOptions options;
    options.root = root;
    options.index_dir = dir;
    options.parse_worker = {"/proc/self/exe", "parse-worker"};
    options.parse_jobs = jobs;
    auto report = indexer::index_repository(options, progress, &cancel);
    if (!report) {
      const bool locked = report.error().kind == indexer::IndexRunError::Kind::kLocked;
      return SymbolIndexFailure{locked ? SymbolIndexFailure::Kind::kLockedByAnotherProcess
                                       : SymbolIndexFailure::Kind::kFailed,
                                report.error().message};
    }
    if (memory && memory->has_model() && !report.value().cancelled) {
      // The memory after the symbols: completions can use the symbols while it is encoded.
      auto m = memory->update(root, indexer::index_dir_of(options), report.value().walked, progress,
                              cancel);
      if (!m) {
        spdlog::warn("memory not updated: {}", m.error().message);
      } else {
        spdlog::info(
            "memory: {} files encoded ({} tokens, {:.0f} tokens/s), {} unchanged, {} "
            "removed, {} failed",
            m.value().files_encoded, m.value().tokens_encoded,
            m.value().encode_seconds > 0
                ? static_cast<double>(m.value().tokens_encoded) / m.value().encode_seconds
                : 0.0,
            m.value().files_unchanged, m.value().files_removed, m.value().failed.size());
        report.value().cancelled = report.value().cancelled || m.value().cancelled;
      }
    }
    return report.value();
  };
  return symbol_index;
}

UnsavedEditMemoryOptions serve_unsaved_edits(const std::string& index_dir,
                                             std::shared_ptr<ServeMemory> memory) {
  UnsavedEditMemoryOptions options;
  const fs::path dir = index_dir.empty() ? fs::path() : fs::absolute(index_dir);
  options.encode = [dir, memory](const fs::path& root, const std::string& path,
                                 const std::string& text) -> std::optional<std::string> {
    if (!memory->has_model()) return std::nullopt;
    auto updated = memory->update_file(dir.empty() ? root / ".mnemo" : dir, path, text);
    if (!updated) return updated.error().message;
    return std::nullopt;
  };
  return options;
}

int run_index(const IndexCommandOptions& o) {
  if (o.status) return run_status(o);
  std::signal(SIGINT, on_interrupt);
  ProgressBar bar(!o.json && ::isatty(STDERR_FILENO) != 0);
  auto report = indexer::index_repository(
      to_index_options(o),
      [&](const indexer::IndexProgress& p) {
        bar.update(p);
        if (o.test_file_delay_ms > 0 && !p.current.empty())
          std::this_thread::sleep_for(std::chrono::milliseconds(o.test_file_delay_ms));
      },
      &g_interrupted);
  std::signal(SIGINT, SIG_DFL);
  if (!report) {
    std::cerr << "mnemo index: " << report.error().message << "\n";
    return 1;
  }
  const indexer::IndexReport& r = report.value();
  std::optional<indexer::MemoryIndexReport> memory;
  const std::string model_path = memory_model(o);
  if (!model_path.empty() && !r.cancelled) {
    auto updated = update_memory(o, model_path, r.walked, bar);
    if (!updated) {
      std::cerr << "mnemo index: " << updated.error().message << "\n";
      return 1;
    }
    memory = updated.value();
  }
  if (o.json) {
    nlohmann::json failed = nlohmann::json::array();
    for (const auto& f : r.failed) failed.push_back({{"path", f.path}, {"reason", f.reason}});
    std::cout << nlohmann::json{{"in_git", r.in_git},
                                {"files_walked", r.files_walked},
                                {"files", r.files_total},
                                {"indexed", r.files_indexed},
                                {"unchanged", r.files_unchanged},
                                {"removed", r.files_removed},
                                {"failed", failed},
                                {"parse_errors", r.parse_errors},
                                {"units_parsed", r.units_parsed},
                                {"bytes_parsed", r.bytes_parsed},
                                {"rebuilt", r.rebuilt},
                                {"cancelled", r.cancelled},
                                {"walk_seconds", r.walk_seconds},
                                {"parse_seconds", r.parse_seconds},
                                {"store_seconds", r.store_seconds},
                                {"total_seconds", r.total_seconds},
                                {"memory", memory ? memory_json(*memory) : nlohmann::json()}}
                     .dump(2)
              << std::endl;
  } else {
    std::cout << "indexed " << r.files_indexed << ", unchanged " << r.files_unchanged
              << ", removed " << r.files_removed << ", failed " << r.failed.size() << " of "
              << r.files_total << " C/C++ files in " << duration_text(r.total_seconds) << " ("
              << r.units_parsed << " parses, " << r.parse_errors << " parse errors)"
              << (r.cancelled ? "; interrupted" : "") << "\n";
    for (const auto& f : r.failed) std::cout << "  failed: " << f.path << ": " << f.reason << "\n";
    if (memory) print_memory(*memory);
  }
  return r.cancelled || (memory && memory->cancelled) ? 130 : 0;
}

}  // namespace mnemo::server
