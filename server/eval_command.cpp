#include "server/eval_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "indexer/repository_indexer.h"
#include "indexer/repository_memory.h"
#include "indexer/symbol_database.h"
#include "model/model_loader.h"
#include "server/completion_settings.h"
#include "server/eval_cases.h"
#include "server/eval_metrics.h"
#include "server/model_completer.h"
#include "server/serve_memory.h"

namespace mnemo::server {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

/// One case's scores under one condition.
struct Scores {
  double top1 = 0, top5 = 0, mrr = 0;           ///< identifier level
  double em = 0, es = 0, id_em = 0, id_f1 = 0;  ///< line level
  double latency_ms = 0;
  bool read_memory = false;
};

/// The identifier a suggestion starts with (empty when it starts with something else).
std::string leading_identifier(const std::string& text) {
  const std::vector<std::string> ids = identifiers_in(text);
  if (ids.empty() || text.compare(0, ids.front().size(), ids.front()) != 0) return {};
  return ids.front();
}

Scores score(const EvalCase& c, const CompletionResult& result, double latency_ms) {
  Scores s;
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

json interval(const std::vector<double>& values, std::uint64_t seed) {
  const Interval i = bootstrap_mean(values, seed);
  return {{"mean", i.mean}, {"low", i.low}, {"high", i.high}};
}

/// The metrics of a group of cases' scores.
json summarize(const std::vector<Scores>& scores, std::uint64_t seed) {
  const auto column = [&](double Scores::*field) {
    std::vector<double> v;
    for (const Scores& s : scores) v.push_back(s.*field);
    return v;
  };
  std::size_t read_memory = 0;
  for (const Scores& s : scores) read_memory += s.read_memory ? 1 : 0;
  return {{"n", scores.size()},
          {"identifier_top1", interval(column(&Scores::top1), seed)},
          {"identifier_top5", interval(column(&Scores::top5), seed)},
          {"identifier_mrr", interval(column(&Scores::mrr), seed)},
          {"line_exact_match", interval(column(&Scores::em), seed)},
          {"line_edit_similarity", interval(column(&Scores::es), seed)},
          {"line_identifier_em", interval(column(&Scores::id_em), seed)},
          {"line_identifier_f1", interval(column(&Scores::id_f1), seed)},
          {"latency_p50_ms", percentile(column(&Scores::latency_ms), 0.5)},
          {"latency_p95_ms", percentile(column(&Scores::latency_ms), 0.95)},
          {"cases_that_read_memory", read_memory}};
}

/// The symbolic baseline's metrics: identifier ranking only (it writes no line).
json summarize_identifiers(const std::vector<Scores>& scores, std::uint64_t seed) {
  const json all = summarize(scores, seed);
  return {{"n", all["n"]},
          {"identifier_top1", all["identifier_top1"]},
          {"identifier_top5", all["identifier_top5"]},
          {"identifier_mrr", all["identifier_mrr"]}};
}

std::string cell(const json& metric, double scale) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.1f [%.1f, %.1f]", scale * metric["mean"].get<double>(),
                scale * metric["low"].get<double>(), scale * metric["high"].get<double>());
  return buffer;
}

std::string markdown(const json& conditions) {
  std::ostringstream out;
  out << "| condition | cases | n | id top-1 % | id top-5 % | id MRR | line EM % | line ES | "
         "line id F1 % | p50 ms |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const char* condition : {"memory", "no_memory", "symbolic"}) {
    for (const char* group : {"all", "first_use", "later_use"}) {
      const json& g = conditions[condition][group];
      if (g["n"].get<std::size_t>() == 0) continue;
      out << "| " << condition << " | " << group << " | " << g["n"].get<std::size_t>() << " | "
          << cell(g["identifier_top1"], 100) << " | " << cell(g["identifier_top5"], 100) << " | "
          << cell(g["identifier_mrr"], 1) << " | ";
      if (!g.contains("line_exact_match")) {
        out << "– | – | – | – |\n";  // the symbolic baseline writes no line
        continue;
      }
      char p50[32];
      std::snprintf(p50, sizeof p50, "%.0f", g["latency_p50_ms"].get<double>());
      out << cell(g["line_exact_match"], 100) << " | " << cell(g["line_edit_similarity"], 1)
          << " | " << cell(g["line_identifier_f1"], 100) << " | " << p50 << " |\n";
    }
  }
  return out.str();
}

}  // namespace

CLI::App* add_eval_command(CLI::App& app, EvalCommandOptions& o) {
  auto* cmd = app.add_subcommand(
      "eval",
      "Measure cross-file completion on a repository's own symbol uses, with the "
      "memory and without (markdown; --json for JSON)");
  cmd->add_option("repo", o.repo, "the repository, indexed with `mnemo index REPO --model M`")
      ->required();
  cmd->add_option("--index-dir", o.index_dir, "its index (default: REPO/.mnemo)");
  cmd->add_option_function<std::string>(
      "--model",
      [&o](const std::string& path) { o.settings_flags["model"] = fs::absolute(path).string(); },
      "the model the memory was made with (default: \"model\" in REPO/.mnemo/config.json)");
  cmd->add_option_function<std::size_t>(
      "--memory-window",
      [&o](std::size_t tokens) { o.settings_flags["memory"]["window"] = tokens; },
      "the window the memory was indexed with (default 1024)");
  cmd->add_option("--seed", o.seed, "which cases are sampled")->capture_default_str();
  cmd->add_option("--max-cases", o.max_cases, "cases sampled (0: all)")->capture_default_str();
  cmd->add_option("--max-tokens", o.max_tokens, "the most tokens a suggestion may have")
      ->capture_default_str();
  cmd->add_option("--top-k", o.top_k, "identifier suggestions ranked (beam search)")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  cmd->add_option("--json", o.json_out, "also write the results as JSON to this file");
  return cmd;
}

int run_eval(const EvalCommandOptions& o) {
  const fs::path root = fs::absolute(o.repo);
  std::vector<std::string> problems;
  const CompletionSettings settings = resolve_settings(root, json(), o.settings_flags, problems);
  for (const std::string& problem : problems) spdlog::warn("settings: {}", problem);
  if (settings.model.empty()) {
    std::cerr << "mnemo eval: no model: pass --model, or set \"model\" in "
              << (root / ".mnemo" / "config.json").string() << "\n";
    return 2;
  }
  indexer::IndexOptions index;
  index.root = root;
  index.index_dir = o.index_dir;
  const fs::path index_dir = indexer::index_dir_of(index);
  auto db = indexer::SymbolDatabase::open(indexer::symbol_database_path(index_dir),
                                          indexer::SymbolDatabase::OpenMode::kReadOnly);
  if (!db) {
    std::cerr << "mnemo eval: " << db.error().message << " (run `mnemo index " << o.repo
              << " --model M` first)\n";
    return 1;
  }
  auto cases = extract_cases(*db.value(), root, {o.seed, o.max_cases});
  if (!cases) {
    std::cerr << "mnemo eval: " << cases.error() << "\n";
    return 1;
  }
  // The symbolic baseline, what a plain IDE offers where nothing of the name is typed yet:
  // the repository's names, the most used first.
  auto frequencies = db.value()->name_frequencies();
  if (!frequencies) {
    std::cerr << "mnemo eval: " << frequencies.error().message << "\n";
    return 1;
  }
  std::map<std::string, std::size_t> frequency_rank;
  for (const auto& [name, uses] : frequencies.value())
    frequency_rank.emplace(name, frequency_rank.size() + 1);
  auto loaded = model::load_model(settings.model.string());
  if (!loaded) {
    std::cerr << "mnemo eval: " << loaded.error().message << "\n";
    return 1;
  }
  const auto options = memory_options(settings, index_dir);
  auto memory = indexer::load_repository_memory(loaded.value().transformer->config(),
                                                memory_model_id(settings.model), options);
  if (!memory) {
    std::cerr << "mnemo eval: " << memory.error().message << "\n";
    return 1;
  }
  const PromptBudget budget{settings.prefix_tokens, settings.suffix_tokens};
  ModelCompleter with_memory(loaded.value(),
                             std::make_shared<indexer::RepositoryMemory>(std::move(memory).value()),
                             budget);
  ModelCompleter without_memory(loaded.value(), nullptr, budget);

  const std::vector<EvalCase>& all_cases = cases.value().cases;
  std::map<std::string, std::map<std::string, std::vector<Scores>>> groups;
  for (std::size_t i = 0; i < all_cases.size(); ++i) {
    const EvalCase& c = all_cases[i];
    const std::string& text = cases.value().texts.at(c.file);
    // The file cut at the use: what follows is not there (left context only).
    const std::string prefix = text.substr(0, c.offset);
    CompletionRequest request;
    request.text = prefix;
    request.cursor = prefix.size();
    request.memory_file = c.file;  // its stored segment holds the answer: left out
    request.max_tokens = o.max_tokens;
    request.alternatives = o.top_k;
    model::StopRules end_of_line;
    end_of_line.end_of_line = true;
    end_of_line.end_of_generation = true;
    request.stop = end_of_line;
    for (const auto& [condition, completer] :
         {std::pair<const char*, ModelCompleter*>{"memory", &with_memory},
          std::pair<const char*, ModelCompleter*>{"no_memory", &without_memory}}) {
      const auto start = Clock::now();
      auto result = completer->complete(request);
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      if (!result) {
        std::cerr << "mnemo eval: " << c.file << ":" << c.line << ": " << result.error().message
                  << "\n";
        return 1;
      }
      const Scores s = score(c, result.value(), ms);
      groups[condition]["all"].push_back(s);
      groups[condition][c.first_use ? "first_use" : "later_use"].push_back(s);
    }
    Scores symbolic;
    const auto ranked = frequency_rank.find(c.identifier);
    const std::size_t rank = ranked == frequency_rank.end() ? 0 : ranked->second;
    symbolic.top1 = rank == 1;
    symbolic.top5 = rank >= 1 && rank <= 5;
    symbolic.mrr = reciprocal_rank(rank);
    groups["symbolic"]["all"].push_back(symbolic);
    groups["symbolic"][c.first_use ? "first_use" : "later_use"].push_back(symbolic);
    std::cerr << "case " << i + 1 << "/" << all_cases.size() << ": " << c.file << ":" << c.line
              << " " << c.identifier << "\n";
  }
  json conditions;
  for (const char* condition : {"memory", "no_memory"}) {
    for (const char* group : {"all", "first_use", "later_use"})
      conditions[condition][group] = summarize(groups[condition][group], o.seed);
  }
  for (const char* group : {"all", "first_use", "later_use"})
    conditions["symbolic"][group] = summarize_identifiers(groups["symbolic"][group], o.seed);
  const json out = {{"config",
                     {{"repo", root.string()},
                      {"model", settings.model.string()},
                      {"cases", all_cases.size()},
                      {"seed", o.seed},
                      {"max_cases", o.max_cases},
                      {"max_tokens", o.max_tokens},
                      {"top_k", o.top_k},
                      {"prefix_tokens", settings.prefix_tokens},
                      {"memory_top_k", settings.memory_top_k},
                      {"edit_similarity", "python-Levenshtein ratio, 0-100"},
                      {"intervals", "percentile bootstrap 95%, 1000 resamples"}}},
                    {"conditions", conditions}};
  std::cout << markdown(conditions);
  if (!o.json_out.empty()) {
    std::ofstream file(o.json_out);
    file << out.dump(2) << "\n";
    if (!file) {
      std::cerr << "mnemo eval: " << o.json_out << ": cannot be written\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace mnemo::server
