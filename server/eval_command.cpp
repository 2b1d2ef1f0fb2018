#include "server/eval_command.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "indexer/repository_indexer.h"
#include "indexer/repository_memory.h"
#include "indexer/repository_walk.h"
#include "indexer/symbol_database.h"
#include "model/model_loader.h"
#include "server/bm25_windows.h"
#include "server/completion_settings.h"
#include "server/eval_cases.h"
#include "server/eval_metrics.h"
#include "server/eval_needle.h"
#include "server/eval_report.h"
#include "server/model_completer.h"
#include "server/retrieval_prompt.h"
#include "server/serve_memory.h"

namespace mnemo::server {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

/// RepoCoder's retrieval: windows of this many lines, and a query of as many.
constexpr std::size_t kWindowLines = 64;

/// The identifier a suggestion starts with (empty when it starts with something else).
std::string leading_identifier(const std::string& text) {
  const std::vector<std::string> ids = identifiers_in(text);
  if (ids.empty() || text.compare(0, ids.front().size(), ids.front()) != 0) return {};
  return ids.front();
}

CaseScores score(const EvalCase& c, const CompletionResult& result, double latency_ms) {
  CaseScores s;
  s.latency_ms = latency_ms;
  s.read_memory = result.read_memory;
  std::vector<std::string> ranked;
  for (const Suggestion& suggestion : result.suggestions) {
    const std::string id = leading_identifier(suggestion.text);
    if (!id.empty() && std::find(ranked.begin(), ranked.end(), id) == ranked.end())
      ranked.push_back(id);
  }
  const std::size_t rank = rank_of(ranked, c.identifier);
  s.top1 = rank == 1;
  s.top5 = rank >= 1 && rank <= 5;
  s.mrr = reciprocal_rank(rank);
  const std::string line = result.suggestions.empty() ? "" : result.suggestions.front().text;
  s.em = exact_match(line, c.rest_of_line);
  s.es = edit_similarity(normalized_code(line), normalized_code(c.rest_of_line));
  const IdentifierMatch ids = identifier_match(line, c.rest_of_line);
  s.id_em = ids.exact;
  s.id_f1 = ids.f1;
  return s;
}

/// A repository ready to evaluate: its settings, symbol index, model and memory.
struct Repository {
  fs::path root;
  CompletionSettings settings;
  std::unique_ptr<indexer::SymbolDatabase> db;
  model::LoadedModel model;
  std::shared_ptr<indexer::RepositoryMemory> memory;
  indexer::MemoryIndexOptions memory_options;
};

/// Opens what `mnemo index` made of the repository; the message says what to run when not.
Result<Repository, std::string> open_repository(const std::string& repo,
                                                const EvalCommandOptions& o) {
  Repository r;
  r.root = fs::absolute(repo);
  std::vector<std::string> problems;
  r.settings = resolve_settings(r.root, json(), o.settings_flags, problems);
  for (const std::string& problem : problems) spdlog::warn("settings: {}", problem);
  if (r.settings.model.empty())
    return std::string("no model: pass --model, or set \"model\" in " +
                       (r.root / ".mnemo" / "config.json").string());
  indexer::IndexOptions index;
  index.root = r.root;
  index.index_dir = o.index_dir;
  const fs::path index_dir = indexer::index_dir_of(index);
  auto db = indexer::SymbolDatabase::open(indexer::symbol_database_path(index_dir),
                                          indexer::SymbolDatabase::OpenMode::kReadOnly);
  if (!db) return db.error().message + " (run `mnemo index " + repo + "` first)";
  r.db = std::move(db).value();
  auto loaded = model::load_model(r.settings.model.string());
  if (!loaded) return loaded.error().message;
  r.model = std::move(loaded).value();
  r.memory_options = memory_options(r.settings, index_dir);
  auto memory = indexer::load_repository_memory(
      r.model.transformer->config(), memory_model_id(r.settings.model), r.memory_options);
  if (!memory) return memory.error().message;
  r.memory = std::make_shared<indexer::RepositoryMemory>(std::move(memory).value());
  return r;
}

/// The symbolic baseline, what a plain IDE offers where nothing of the name is typed yet:
/// the repository's names, the most used first; by name, its 1-based rank.
Result<std::map<std::string, std::size_t>, std::string> names_by_use(indexer::SymbolDatabase& db) {
  auto frequencies = db.name_frequencies();
  if (!frequencies) return frequencies.error().message;
  std::map<std::string, std::size_t> rank;
  for (const auto& [name, uses] : frequencies.value()) rank.emplace(name, rank.size() + 1);
  return rank;
}

/// The windows BM25 retrieves from: the files of the memory, as they are on disk.
Result<Bm25Windows, std::string> memory_files_windows(const Repository& r) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const std::string& file : r.memory->tier->file_ids()) {
    auto text = indexer::read_file_contents(r.root / file);
    if (text) files.emplace_back(file, std::move(*text));
  }
  return Bm25Windows::build(files, {kWindowLines, kWindowLines / 2});
}

/// The text of a case's definition file, read once.
const std::string& definition_text(const EvalCase& c, const fs::path& root,
                                   std::map<std::string, std::string>& files) {
  auto found = files.find(c.definition_file);
  if (found == files.end())
    found = files
                .emplace(c.definition_file,
                         indexer::read_file_contents(root / c.definition_file).value_or(""))
                .first;
  return found->second;
}

struct RepositoryResult {
  std::size_t cases = 0;
  RepositoryScores scores;
};

Result<RepositoryResult, std::string> evaluate(Repository& r, const EvalCommandOptions& o) {
  auto cases = extract_cases(*r.db, r.root, {o.seed, o.max_cases});
  if (!cases) return cases.error();
  auto symbolic_rank = names_by_use(*r.db);
  if (!symbolic_rank) return symbolic_rank.error();
  auto windows = memory_files_windows(r);
  if (!windows) return windows.error();
  const PromptBudget budget{r.settings.prefix_tokens, r.settings.suffix_tokens};
  ModelCompleter with_memory(r.model, r.memory, budget);
  with_memory.set_next_token_weight(r.settings.memory_next_token_weight);
  ModelCompleter without_memory(r.model, nullptr, budget);
  std::map<std::string, std::string> definition_files;

  RepositoryResult out;
  const std::vector<EvalCase>& all_cases = cases.value().cases;
  out.cases = all_cases.size();
  for (std::size_t i = 0; i < all_cases.size(); ++i) {
    const EvalCase& c = all_cases[i];
    const std::string& text = cases.value().texts.at(c.file);
    // The file cut at the use: what follows is not there (left context only).
    const std::string prefix = text.substr(0, c.offset);
    auto retrieved =
        windows.value().search(lines_before(prefix, prefix.size(), kWindowLines), c.file, 8);
    if (!retrieved) return retrieved.error();
    const std::string bm25_prompt = retrieval_prompt(*r.model.tokenizer, retrieved.value(), prefix,
                                                     without_memory.budget().prefix_tokens);
    const std::string oracle_prompt = retrieval_prompt(
        *r.model.tokenizer, {definition_window(c, definition_text(c, r.root, definition_files))},
        prefix, without_memory.budget().prefix_tokens);
    const auto add = [&](const std::string& condition, const CaseScores& s) {
      out.scores[condition]["all"].push_back(s);
      out.scores[condition][c.first_use ? "first_use" : "later_use"].push_back(s);
    };
    struct Run {
      const char* condition;
      ModelCompleter* completer;
      const std::string* prompt;
    };
    for (const Run& run :
         {Run{"memory", &with_memory, &prefix}, Run{"no_memory", &without_memory, &prefix},
          Run{"bm25", &without_memory, &bm25_prompt},
          Run{"oracle", &without_memory, &oracle_prompt}}) {
      CompletionRequest request;
      request.text = *run.prompt;
      request.cursor = run.prompt->size();
      request.memory_file = c.file;  // its stored segment holds the answer: left out
      request.max_tokens = o.max_tokens;
      request.alternatives = o.top_k;
      model::StopRules end_of_line;
      end_of_line.end_of_line = true;
      end_of_line.end_of_generation = true;
      request.stop = end_of_line;
      const auto start = Clock::now();
      auto result = run.completer->complete(request);
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      if (!result) return c.file + ":" + std::to_string(c.line) + ": " + result.error().message;
      add(run.condition, score(c, result.value(), ms));
    }
    CaseScores symbolic;
    symbolic.wrote_line = false;
    const auto ranked = symbolic_rank.value().find(c.identifier);
    const std::size_t rank = ranked == symbolic_rank.value().end() ? 0 : ranked->second;
    symbolic.top1 = rank == 1;
    symbolic.top5 = rank >= 1 && rank <= 5;
    symbolic.mrr = reciprocal_rank(rank);
    add("symbolic", symbolic);
    std::cerr << "case " << i + 1 << "/" << all_cases.size() << ": " << c.file << ":" << c.line
              << " " << c.identifier << "\n";
  }
  return out;
}

bool write_file(const std::string& path, const std::string& contents) {
  std::ofstream file(path, std::ios::binary);
  file << contents;
  file.close();
  if (!file) std::cerr << "mnemo eval: " << path << ": cannot be written\n";
  return static_cast<bool>(file);
}

int run_needle_eval(const EvalCommandOptions& o) {
  auto repository = open_repository(o.repos.front(), o);
  if (!repository) {
    std::cerr << "mnemo eval: " << repository.error() << "\n";
    return 1;
  }
  Repository& r = repository.value();
  NeedleOptions needle;
  needle.seed = o.seed;
  needle.trials = o.needle_trials;
  needle.max_tokens = o.max_tokens;
  if (!o.needle_memory_tokens.empty()) needle.memory_tokens = o.needle_memory_tokens;
  needle.window = r.memory_options.window;
  needle.budget = {r.settings.prefix_tokens, r.settings.suffix_tokens};
  auto result = run_needle(r.model, *r.memory, r.root, needle);
  if (!result) {
    std::cerr << "mnemo eval --needle: " << result.error() << "\n";
    return 1;
  }
  result.value()["config"]["repo"] = r.root.string();
  result.value()["config"]["model"] = r.settings.model.string();
  std::cout << needle_markdown(result.value());
  if (!o.json_out.empty() && !write_file(o.json_out, result.value().dump(2) + "\n")) return 1;
  return 0;
}

}  // namespace

CLI::App* add_eval_command(CLI::App& app, EvalCommandOptions& o) {
  auto* cmd = app.add_subcommand(
      "eval",
      "Measure cross-file completion on repositories' own symbol uses: with the memory, "
      "without, with BM25 retrieval, with the definition (oracle), and by the symbol index "
      "alone (markdown; --json, --html)");
  cmd->add_option("repos", o.repos,
                  "the repositories, each indexed with `mnemo index REPO` (with the same --model)")
      ->required();
  cmd->add_option("--index-dir", o.index_dir,
                  "the index of a single repository (default: REPO/.mnemo)");
  cmd->add_option_function<std::string>(
      "--model",
      [&o](const std::string& path) { o.settings_flags["model"] = fs::absolute(path).string(); },
      "the model the memory was made with (default: \"model\" in REPO/.mnemo/config.json, "
      "else the built-in model)");
  cmd->add_option_function<std::size_t>(
      "--memory-window",
      [&o](std::size_t tokens) { o.settings_flags["memory"]["window"] = tokens; },
      "the window the memory was indexed with (default 1024)");
  cmd->add_option_function<double>(
      "--next-token-weight", [&o](double w) { o.settings_flags["memory"]["nextTokenWeight"] = w; },
      "the share of each next token the memory's nearest stored states vote, in the memory "
      "condition (default 0.5; 0: off)");
  cmd->add_option("--seed", o.seed, "which cases are sampled")->capture_default_str();
  cmd->add_option("--max-cases", o.max_cases, "cases sampled per repository (0: all)")
      ->capture_default_str();
  cmd->add_option("--max-tokens", o.max_tokens, "the most tokens a suggestion may have")
      ->capture_default_str();
  cmd->add_option("--top-k", o.top_k, "identifier suggestions ranked (beam search)")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  cmd->add_option("--json", o.json_out, "also write the results as JSON to this file");
  cmd->add_option("--html", o.html_out, "also write the results as an HTML page to this file");
  cmd->add_flag("--needle", o.needle,
                "plant a unique definition in one file and ask for it from another: recall "
                "over trials and memory sizes (one repository)");
  cmd->add_option("--trials", o.needle_trials, "--needle: trials per memory size")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_option("--memory-tokens", o.needle_memory_tokens,
                  "--needle: memory sizes in tokens (default: 100000 and every tenfold up to "
                  "the repository's size, and the whole)")
      ->delimiter(',');
  return cmd;
}

int run_eval(const EvalCommandOptions& o) {
  if (o.repos.size() > 1 && !o.index_dir.empty()) {
    std::cerr << "mnemo eval: --index-dir names one repository's index; give one repository\n";
    return 2;
  }
  if (o.needle) {
    if (o.repos.size() != 1 || !o.html_out.empty()) {
      std::cerr << "mnemo eval --needle: give one repository (and no --html)\n";
      return 2;
    }
    return run_needle_eval(o);
  }
  std::vector<RepositoryScores> all_scores;
  json repositories = json::array();
  json models = json::array();
  for (const std::string& repo : o.repos) {
    auto repository = open_repository(repo, o);
    if (!repository) {
      std::cerr << "mnemo eval: " << repo << ": " << repository.error() << "\n";
      return repository.error().rfind("no model", 0) == 0 ? 2 : 1;
    }
    auto result = evaluate(repository.value(), o);
    if (!result) {
      std::cerr << "mnemo eval: " << repo << ": " << result.error() << "\n";
      return 1;
    }
    const CompletionSettings& settings = repository.value().settings;
    repositories.push_back({{"repo", repository.value().root.string()},
                            {"model", settings.model.string()},
                            {"prefix_tokens", settings.prefix_tokens},
                            {"memory_top_k", settings.memory_top_k},
                            {"memory_next_token_weight", settings.memory_next_token_weight},
                            {"cases", result.value().cases},
                            {"conditions", summarize_repository(result.value().scores, o.seed)}});
    all_scores.push_back(std::move(result).value().scores);
  }
  json report = {{"config",
                  {{"seed", o.seed},
                   {"max_cases", o.max_cases},
                   {"max_tokens", o.max_tokens},
                   {"top_k", o.top_k},
                   {"bm25",
                    "64-line windows every 32 lines, the last 64 lines as the query, "
                    "SQLite FTS5 bm25 (k1 1.2, b 0.75), RepoCoder's prompt, at most "
                    "half the prefix budget"},
                   {"oracle", "the definition's lines in the same prompt layout"},
                   {"edit_similarity", "python-Levenshtein ratio, 0-100"},
                   {"intervals",
                    "percentile bootstrap 95%, 1000 resamples; the macro-average's "
                    "stratified by repository"}}},
                 {"repositories", repositories}};
  if (all_scores.size() > 1) report["macro"] = macro_average(all_scores, o.seed);
  for (const json& r : repositories) {
    std::cout << "### " << r["repo"].get<std::string>() << " (" << r["cases"].get<std::size_t>()
              << " cases)\n\n"
              << markdown_table(r["conditions"]) << "\n";
  }
  if (report.contains("macro"))
    std::cout << "### Macro-average over " << repositories.size() << " repositories\n\n"
              << markdown_table(report["macro"]) << "\n";
  if (!o.json_out.empty() && !write_file(o.json_out, report.dump(2) + "\n")) return 1;
  if (!o.html_out.empty() && !write_file(o.html_out, html_report(report))) return 1;
  return 0;
}

}  // namespace mnemo::server
