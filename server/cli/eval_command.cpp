#include "server/cli/eval_command.h"

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
#include "server/cli/name_prior_flags.h"
#include "server/completer/held_names.h"
#include "server/completer/model_completer.h"
#include "server/completer/retrieval_prompt.h"
#include "server/completer/serve_memory.h"
#include "server/completion/completion_settings.h"
#include "server/eval/bm25_windows.h"
#include "server/eval/eval_cases.h"
#include "server/eval/eval_metrics.h"
#include "server/eval/eval_needle.h"
#include "server/eval/eval_report.h"
#include "server/names/clang_menu_source.h"
#include "server/names/cursor_names.h"
#include "server/names/cursor_site.h"
#include "server/names/declaration_block.h"
#include "server/names/symbol_database_names.h"

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

/// The identifiers a completion ranked: the names it held its first identifier to, then the
/// rest of the names at the cursor by their prior (as the menu lists them); else the leading
/// identifiers of its suggestions. Best first, each once. A suggestion that begins with
/// something else ranks no identifier.
std::vector<std::string> ranked_identifiers(const CompletionResult& result,
                                            const std::string& typed,
                                            const std::vector<std::string>& by_prior) {
  std::vector<std::string> ranked;
  const auto add = [&](std::string id) {
    if (!id.empty() && std::find(ranked.begin(), ranked.end(), id) == ranked.end())
      ranked.push_back(std::move(id));
  };
  if (!result.names.empty()) {
    for (const RankedName& name : result.names) add(name.name);
    for (const std::string& name : by_prior) add(name);
  } else {
    for (const Suggestion& suggestion : result.suggestions)
      add(leading_identifier(typed + suggestion.text));
  }
  return ranked;
}

CaseScores score(const EvalCase& c, const std::string& typed, const CompletionResult& result,
                 const std::vector<std::string>& by_prior, double latency_ms) {
  CaseScores s;
  s.latency_ms = latency_ms;
  s.read_memory = result.read_memory;
  const std::size_t rank = rank_of(ranked_identifiers(result, typed, by_prior), c.identifier);
  s.top1 = rank == 1;
  s.top5 = rank >= 1 && rank <= 5;
  s.mrr = reciprocal_rank(rank);
  // The line as the user would have it: what was typed of the name, then the suggestion.
  const std::string line =
      typed + (result.suggestions.empty() ? "" : result.suggestions.front().text);
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
  fs::path index_dir;
  CompletionSettings settings;
  std::unique_ptr<indexer::SymbolDatabase> db;
  std::unique_ptr<SymbolDatabaseNames> names_index;  ///< reads db
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
  r.index_dir = indexer::index_dir_of(index);
  auto db = indexer::SymbolDatabase::open(indexer::symbol_database_path(r.index_dir),
                                          indexer::SymbolDatabase::OpenMode::kReadOnly);
  if (!db) return db.error().message + " (run `mnemo index " + repo + "` first)";
  r.db = std::move(db).value();
  r.names_index = std::make_unique<SymbolDatabaseNames>(*r.db);
  auto loaded = model::load_model(r.settings.model.string());
  if (!loaded) return loaded.error().message;
  r.model = std::move(loaded).value();
  r.memory_options = memory_options(r.settings, r.index_dir);
  auto memory = indexer::load_repository_memory(
      r.model.transformer->config(), memory_model_id(r.settings.model), r.memory_options);
  if (!memory) return memory.error().message;
  r.memory = std::make_shared<indexer::RepositoryMemory>(std::move(memory).value());
  return r;
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

/// The windows BM25 retrieves from: the files of the memory, as they are on disk.
Result<Bm25Windows, std::string> memory_files_windows(const Repository& r) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const std::string& file : r.memory->tier->file_ids()) {
    auto text = indexer::read_file_contents(r.root / file);
    if (text) files.emplace_back(file, std::move(*text));
  }
  return Bm25Windows::build(files, {kWindowLines, kWindowLines / 2});
}

struct RepositoryResult {
  std::size_t cases = 0;
  RepositoryScores scores;
  std::map<std::string, std::size_t> name_sources;  ///< how often each source gave the names
  /// Per condition: member accesses whose names came from libclang where the first
  /// suggestion begins with an identifier that is not one of them (an accessible member).
  std::map<std::string, std::size_t> not_a_member;
};

/// What one model condition gives the completer.
struct Condition {
  const char* name;
  bool memory;        ///< the repository's memory (the exact tier)
  bool names;         ///< the first identifier held to the names at the cursor
  bool declarations;  ///< the declarations block before the prefix
  enum class Retrieval { kNone, kBm25, kOracle } retrieval = Retrieval::kNone;
};

const std::vector<Condition>& model_conditions() {
  using R = Condition::Retrieval;
  static const std::vector<Condition> all{
      {"full", true, true, true},
      {"no_constraint", true, false, true},
      {"no_declarations", true, true, false},
      {"no_memory", false, true, true},
      {"bm25", false, true, false, R::kBm25},
      {"oracle", false, true, false, R::kOracle},
  };
  return all;
}

/// A name's signals as the prior weighs them (cursor_names.h), for fitting its weights.
json name_features(const NameCandidate& n) {
  return {{"name", n.name},
          {"kind", static_cast<int>(n.kind)},
          {"document_uses", n.document_uses},
          {"lines_since_use", n.lines_since_use},
          {"repository_uses", n.repository_uses},
          {"receiver_uses", n.receiver_uses},
          {"file_scope", n.in_file_scope},
          {"compiler", n.from_compiler}};
}

/// Names whose signals --features writes per case, besides the answer.
constexpr std::size_t kFeatureNames = 64;

Result<RepositoryResult, std::string> evaluate(Repository& r, const EvalCommandOptions& o,
                                               std::ostream* cases_out,
                                               std::ostream* features_out) {
  auto cases = extract_cases(*r.db, r.root, {o.seed, o.max_cases});
  if (!cases) return cases.error();
  auto windows = memory_files_windows(r);
  if (!windows) return windows.error();
  const PromptBudget budget{r.settings.prefix_tokens, r.settings.suffix_tokens};
  ModelCompleter with_memory(r.model, r.memory, budget);
  with_memory.set_next_token_weight(r.settings.memory_next_token_weight);
  ModelCompleter without_memory(r.model, nullptr, budget);
  std::map<std::string, std::string> definition_files;
  ClangMenuSource clang({"/proc/self/exe", "parse-worker"}, r.index_dir);
  CursorNameFinder finder(
      [&clang](const SemanticQuery& q, const lsp::CancellationToken& t) {
        return clang.complete(q, t);
      },
      r.names_index.get());
  const auto count_tokens = [&](std::string_view text) {
    return r.model.tokenizer->encode(text, false, false).size();
  };
  const lsp::CancellationToken never;

  RepositoryResult out;
  const std::vector<EvalCase>& all_cases = cases.value().cases;
  out.cases = all_cases.size();
  for (std::size_t i = 0; i < all_cases.size(); ++i) {
    const EvalCase& c = all_cases[i];
    const std::string& text = cases.value().texts.at(c.file);
    // The file cut at the use (left context only), with --typed bytes of the name typed.
    const std::size_t typed_bytes = std::min(o.typed, c.identifier.size() - 1);
    const std::string typed = c.identifier.substr(0, typed_bytes);
    const std::string prefix = text.substr(0, c.offset) + typed;
    CursorNamesRequest names_request;
    names_request.path = r.root / c.file;
    names_request.root = r.root;
    names_request.file = c.file;
    names_request.text = prefix;
    names_request.cursor = prefix.size();
    const CursorNames names = finder.find(names_request, never);
    ++out.name_sources[names.source];
    const HeldNames held = held_names(names, r.settings);
    DeclarationBlockRequest block_request;
    block_request.text = prefix;
    block_request.cursor = prefix.size();
    block_request.file = c.file;
    block_request.names = &names;
    block_request.budget_tokens = r.settings.declaration_tokens;
    const std::string declarations = declaration_block(*r.names_index, block_request, count_tokens);

    const bool member = cursor_site(text, c.offset).kind == SiteKind::kMember;
    if (features_out != nullptr && names.site.kind != SiteKind::kDeclaration) {
      // The likeliest names by the prior, then an even sample of the rest, each sampled one
      // standing for `weight` names (so that a fit sees the whole set, not the top and the
      // answer alone), and the answer.
      std::vector<const NameCandidate*> matching;
      for (const NameCandidate& n : names.names)
        if (n.name.compare(0, typed.size(), typed) == 0) matching.push_back(&n);
      const std::size_t rest =
          matching.size() > kFeatureNames ? matching.size() - kFeatureNames : 0;
      const std::size_t step = (rest + kFeatureNames - 1) / kFeatureNames;
      json candidates = json::array();
      bool answer_in = false;
      for (std::size_t k = 0; k < matching.size(); ++k) {
        const bool answer = matching[k]->name == c.identifier;
        const bool top = k < kFeatureNames;
        const bool sampled = !top && (k - kFeatureNames) % step == 0;
        if (!top && !sampled && !answer) continue;
        answer_in = answer_in || answer;
        candidates.push_back(name_features(*matching[k]));
        candidates.back()["answer"] = answer;
        candidates.back()["weight"] = top || !sampled ? 1 : step;
      }
      *features_out << json{{"repo", r.root.string()},
                            {"file", c.file},
                            {"line", c.line},
                            {"identifier", c.identifier},
                            {"first_use", c.first_use},
                            {"site", to_string(names.site.kind)},
                            {"names_from", names.source},
                            {"answer_in_names", answer_in},
                            {"candidates", candidates}}
                           .dump(-1, ' ', false, json::error_handler_t::replace)
                    << "\n";
    }
    // The names at the cursor that go on from what is typed, by their prior: the menu's
    // order below what the model ranked, and the symbol index's answer alone.
    std::vector<std::string> by_prior;
    if (names.site.kind != SiteKind::kDeclaration) {
      for (const NameCandidate& n : names.names)
        if (n.name.compare(0, typed.size(), typed) == 0) by_prior.push_back(n.name);
    }
    const auto add = [&](const std::string& condition, const CaseScores& s) {
      auto& groups = out.scores[condition];
      groups["all"].push_back(s);
      groups[c.first_use ? "first_use" : "later_use"].push_back(s);
      groups[member ? "member" : "other"].push_back(s);
    };
    for (const Condition& condition : model_conditions()) {
      if (!o.conditions.empty() &&
          std::find(o.conditions.begin(), o.conditions.end(), condition.name) == o.conditions.end())
        continue;
      std::string prompt = prefix;
      if (condition.retrieval != Condition::Retrieval::kNone) {
        std::vector<CodeWindow> retrieved;
        if (condition.retrieval == Condition::Retrieval::kBm25) {
          const std::string cut = text.substr(0, c.offset);
          auto found =
              windows.value().search(lines_before(cut, cut.size(), kWindowLines), c.file, 8);
          if (!found) return found.error();
          retrieved = std::move(found).value();
        } else {
          retrieved = {definition_window(c, definition_text(c, r.root, definition_files))};
        }
        prompt = retrieval_prompt(*r.model.tokenizer, retrieved, text.substr(0, c.offset),
                                  without_memory.budget().prefix_tokens) +
                 typed;
      }
      CompletionRequest request;
      request.text = prompt;
      request.cursor = prompt.size();
      request.memory_file = c.file;  // its stored segment holds the answer: left out
      request.max_tokens = o.max_tokens;
      request.alternatives = 1;
      request.ranked_names = o.top_k;
      if (condition.names) {
        request.names = held.names;
        request.slot = held.slot;
      } else {
        request.alternatives = o.top_k;  // the free model ranks identifiers by its beam
      }
      if (condition.declarations) request.context = declarations;
      model::StopRules end_of_line;
      end_of_line.end_of_line = true;
      end_of_line.end_of_generation = true;
      request.stop = end_of_line;
      ModelCompleter& completer = condition.memory ? with_memory : without_memory;
      const auto start = Clock::now();
      auto result = completer.complete(request);
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      if (!result) return c.file + ":" + std::to_string(c.line) + ": " + result.error().message;
      add(condition.name, score(c, typed, result.value(), by_prior, ms));
      if (names.site.kind == SiteKind::kMember && names.source == "compiler") {
        const std::string first = leading_identifier(
            typed + (result.value().suggestions.empty() ? std::string()
                                                        : result.value().suggestions.front().text));
        const bool is_member =
            first.empty() || std::any_of(names.names.begin(), names.names.end(),
                                         [&](const NameCandidate& n) { return n.name == first; });
        out.not_a_member[condition.name] += is_member ? 0 : 1;
      }
      if (cases_out != nullptr) {
        json ranked = json::array();
        for (const std::string& id : ranked_identifiers(result.value(), typed, {}))
          ranked.push_back(id);
        *cases_out << json{{"repo", r.root.string()},
                           {"file", c.file},
                           {"line", c.line},
                           {"identifier", c.identifier},
                           {"typed", typed},
                           {"first_use", c.first_use},
                           {"site", to_string(names.site.kind)},
                           {"names", names.names.size()},
                           {"names_from", names.source},
                           {"condition", condition.name},
                           {"ranked", ranked},
                           {"suggestion", result.value().suggestions.empty()
                                              ? ""
                                              : result.value().suggestions.front().text},
                           {"expected", c.rest_of_line}}
                          .dump(-1, ' ', false, json::error_handler_t::replace)
                   << "\n";
      }
    }
    // The symbol index alone: the names at the cursor by their prior, no model.
    CaseScores symbolic;
    symbolic.wrote_line = false;
    const std::size_t rank = rank_of(by_prior, c.identifier);
    symbolic.top1 = rank == 1;
    symbolic.top5 = rank >= 1 && rank <= 5;
    symbolic.mrr = reciprocal_rank(rank);
    add("symbolic", symbolic);
    if (cases_out != nullptr) {
      json top = json::array();
      for (std::size_t k = 0; k < std::min<std::size_t>(by_prior.size(), 10); ++k)
        top.push_back(by_prior[k]);
      *cases_out << json{{"repo", r.root.string()},    {"file", c.file},          {"line", c.line},
                         {"identifier", c.identifier}, {"condition", "symbolic"}, {"ranked", top}}
                        .dump(-1, ' ', false, json::error_handler_t::replace)
                 << "\n";
    }
    std::cerr << "case " << i + 1 << "/" << all_cases.size() << ": " << c.file << ":" << c.line
              << " " << c.identifier << " (" << to_string(names.site.kind) << ", "
              << names.names.size() << " names from " << names.source << ")\n";
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
  cmd->add_option_function<std::size_t>(
      "--declaration-tokens",
      [&o](std::size_t n) { o.settings_flags["prompt"]["declarationTokens"] = n; },
      "budget of the declarations block before the prefix (default 256)");
  add_name_prior_flags(*cmd, o.settings_flags);
  cmd->add_option("--seed", o.seed, "which cases are sampled")->capture_default_str();
  cmd->add_option("--max-cases", o.max_cases, "cases sampled per repository (0: all)")
      ->capture_default_str();
  cmd->add_option("--max-tokens", o.max_tokens, "the most tokens a suggestion may have")
      ->capture_default_str();
  cmd->add_option("--top-k", o.top_k, "identifier suggestions ranked (beam search)")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  cmd->add_option("--typed", o.typed,
                  "bytes of each case's name already typed before the cursor (at most all but "
                  "its last)")
      ->capture_default_str();
  cmd->add_option("--conditions", o.conditions,
                  "the conditions to run (default: all): full, no_constraint, no_declarations, "
                  "no_memory, bm25, oracle; symbolic (the symbol index alone) always runs")
      ->delimiter(',')
      ->check(CLI::IsMember(
          {"full", "no_constraint", "no_declarations", "no_memory", "bm25", "oracle", "symbolic"}));
  cmd->add_option("--cases", o.cases_out,
                  "also write each case's result under each condition as JSON lines to this "
                  "file (the names ranked, the suggestion, the expected line)");
  cmd->add_option("--features", o.features_out,
                  "also write each case's likeliest names with the signals their prior weighs, "
                  "as JSON lines to this file (scripts/fit-name-prior.py fits the weights)");
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
    std::ofstream cases_file, features_file;
    for (auto [path, file] :
         {std::pair{&o.cases_out, &cases_file}, {&o.features_out, &features_file}}) {
      if (path->empty()) continue;
      file->open(*path, repositories.empty() ? std::ios::trunc : std::ios::app);
      if (!*file) {
        std::cerr << "mnemo eval: " << *path << ": cannot be written\n";
        return 1;
      }
    }
    auto result = evaluate(repository.value(), o, o.cases_out.empty() ? nullptr : &cases_file,
                           o.features_out.empty() ? nullptr : &features_file);
    if (!result) {
      std::cerr << "mnemo eval: " << repo << ": " << result.error() << "\n";
      return 1;
    }
    const CompletionSettings& settings = repository.value().settings;
    repositories.push_back({{"repo", repository.value().root.string()},
                            {"model", settings.model.string()},
                            {"prefix_tokens", settings.prefix_tokens},
                            {"declaration_tokens", settings.declaration_tokens},
                            {"name_prior_weight", settings.name_prior_weight},
                            {"member_prior_weight", settings.member_prior_weight},
                            {"memory_top_k", settings.memory_top_k},
                            {"memory_next_token_weight", settings.memory_next_token_weight},
                            {"cases", result.value().cases},
                            {"name_sources", result.value().name_sources},
                            {"member_accesses_not_a_member", result.value().not_a_member},
                            {"conditions", summarize_repository(result.value().scores, o.seed)}});
    all_scores.push_back(std::move(result).value().scores);
  }
  json report = {{"config",
                  {{"seed", o.seed},
                   {"max_cases", o.max_cases},
                   {"max_tokens", o.max_tokens},
                   {"top_k", o.top_k},
                   {"typed", o.typed},
                   {"continuous_tier",
                    "not served by this model (it has no trained modules for it): no "
                    "no_continuous_tier row, and no_exact_tier would equal no_memory"},
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
