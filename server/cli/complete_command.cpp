#include "server/cli/complete_command.h"

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "indexer/repository_indexer.h"
#include "indexer/repository_memory.h"
#include "indexer/repository_walk.h"
#include "model/model_loader.h"
#include "model/result.h"
#include "server/cli/name_prior_flags.h"
#include "server/completer/held_names.h"
#include "server/completer/model_completer.h"
#include "server/completer/serve_memory.h"
#include "server/completion/completion_settings.h"
#include "server/names/clang_menu_source.h"
#include "server/names/cursor_names.h"
#include "server/names/declaration_block.h"
#include "server/names/symbol_database_names.h"

namespace mnemo::server {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

struct Query {
  std::string file;
  std::size_t line = 0, col = 0;
  std::optional<std::string> text;
  bool exclude_file_from_memory = true;
  std::optional<std::size_t> max_tokens;
};

/// The byte offset of 0-based `line` and byte column `col`, or why there is none.
model::Result<std::size_t, std::string> offset_of(const std::string& text, std::size_t line,
                                                  std::size_t col) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < line; ++i) {
    const std::size_t newline = text.find('\n', start);
    if (newline == std::string::npos)
      return "line " + std::to_string(line) + " is past the end of the file";
    start = newline + 1;
  }
  std::size_t end = text.find('\n', start);
  if (end == std::string::npos) end = text.size();
  if (col > end - start) {
    return "column " + std::to_string(col) + " is past the end of line " + std::to_string(line) +
           " (" + std::to_string(end - start) + " bytes)";
  }
  return start + col;
}

/// "path:line:col", split at its last two colons (a path may hold colons).
std::optional<Query> parse_position(const std::string& arg) {
  const auto second = arg.rfind(':');
  if (second == std::string::npos || second == 0) return std::nullopt;
  const auto first = arg.rfind(':', second - 1);
  if (first == std::string::npos || first == 0) return std::nullopt;
  Query q;
  q.file = arg.substr(0, first);
  try {
    std::size_t used = 0;
    const std::string line = arg.substr(first + 1, second - first - 1);
    const std::string col = arg.substr(second + 1);
    q.line = std::stoul(line, &used);
    if (used != line.size() || line.empty() || line[0] == '-') return std::nullopt;
    q.col = std::stoul(col, &used);
    if (used != col.size() || col.empty() || col[0] == '-') return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return q;
}

Query query_from_json(const json& j) {
  Query q;
  q.file = j.at("file").get<std::string>();
  q.line = j.at("line").get<std::size_t>();
  q.col = j.at("col").get<std::size_t>();
  if (j.contains("text") && !j.at("text").is_null()) q.text = j.at("text").get<std::string>();
  if (j.contains("exclude_file_from_memory"))
    q.exclude_file_from_memory = j.at("exclude_file_from_memory").get<bool>();
  if (j.contains("max_tokens") && !j.at("max_tokens").is_null())
    q.max_tokens = j.at("max_tokens").get<std::size_t>();
  return q;
}

/// The names at a cursor and the declarations block, from libclang and the repository's
/// symbol index (when it has one), as `mnemo serve` gives them.
struct CursorContextSource {
  CompletionSettings settings;
  std::shared_ptr<const model::Tokenizer> tokenizer;
  std::unique_ptr<ClangMenuSource> clang;
  std::unique_ptr<indexer::SymbolDatabase> db;
  std::unique_ptr<SymbolDatabaseNames> index;
  std::unique_ptr<CursorNameFinder> finder;
};

class Answerer {
 public:
  Answerer(const CompleteCommandOptions& o, ModelCompleter& completer, CursorContextSource& names)
      : o_(o), completer_(completer), names_(names), root_(fs::weakly_canonical(o.repo)) {}

  json answer(const Query& q) {
    const auto start = Clock::now();
    json out = answer_untimed(q);
    out["latency_ms"] = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return out;
  }

 private:
  json answer_untimed(const Query& q) {
    fs::path path = fs::path(q.file).is_absolute() ? fs::path(q.file) : root_ / q.file;
    path = path.lexically_normal();
    std::string text;
    if (q.text) {
      text = *q.text;
    } else {
      const auto contents = indexer::read_file_contents(path);
      if (!contents) return {{"error", q.file + ": cannot be read"}};
      text = *contents;
    }
    const auto cursor = offset_of(text, q.line, q.col);
    if (!cursor) return {{"error", q.file + ": " + cursor.error()}};
    CompletionRequest request;
    request.text = text;
    request.cursor = cursor.value();
    request.max_tokens = q.max_tokens.value_or(o_.max_tokens);
    request.alternatives = o_.alternatives;
    request.ranked_names = o_.alternatives;
    const fs::path relative = path.lexically_relative(root_);
    const bool inside = !relative.empty() && *relative.begin() != "..";
    if (q.exclude_file_from_memory && inside) request.memory_file = relative.generic_string();
    json names_json = nullptr;
    std::optional<CursorNames> names;
    if (names_.finder) {
      CursorNamesRequest at;
      at.path = path;
      at.root = root_;
      at.file = inside ? relative.generic_string() : std::string();
      at.text = text;
      at.cursor = cursor.value();
      names = names_.finder->find(at, lsp::CancellationToken());
      if (names_.settings.hold_names) {
        const HeldNames held = held_names(*names, names_.settings);
        request.names = held.names;
        request.slot = held.slot;
      }
      if (names_.index && names_.settings.declaration_tokens > 0) {
        DeclarationBlockRequest block;
        block.text = text;
        block.cursor = cursor.value();
        block.file = at.file;
        block.names = &*names;
        block.budget_tokens = names_.settings.declaration_tokens;
        request.context = declaration_block(*names_.index, block, [&](std::string_view t) {
          return names_.tokenizer->encode(t, false, false).size();
        });
      }
    }
    auto result = completer_.complete(request);
    if (!result) return {{"error", result.error().message}};
    json suggestions = json::array();
    for (const Suggestion& s : result.value().suggestions)
      suggestions.push_back({{"text", s.text}, {"score", s.score}});
    json out = {{"suggestions", suggestions}};
    if (names) {
      json ranked = json::array();
      for (const RankedName& n : result.value().names)
        ranked.push_back({{"name", n.name}, {"score", n.score}});
      out["site"] = to_string(names->site.kind);
      out["names_from"] = names->source;
      out["names"] = names->names.size();
      out["ranked_names"] = ranked;
    }
    return out;
  }

  const CompleteCommandOptions& o_;
  ModelCompleter& completer_;
  CursorContextSource& names_;
  fs::path root_;
};

std::string dump(const json& j) {
  // A file that is not UTF-8 may give suggestions that are not: replaced, not refused.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

CLI::App* add_complete_command(CLI::App& app, CompleteCommandOptions& o) {
  auto* cmd = app.add_subcommand(
      "complete", "Suggest what follows a cursor, reading the repository's memory (JSON lines)");
  auto* query = cmd->add_option("position", o.query,
                                "FILE:LINE:COL, LINE and COL 0-based, COL in UTF-8 bytes");
  auto* batch = cmd->add_option("--batch", o.batch,
                                "a JSON-lines file of queries (- for standard input): "
                                "{\"file\", \"line\", \"col\", \"text\"?, "
                                "\"exclude_file_from_memory\"?, \"max_tokens\"?}");
  query->excludes(batch);
  cmd->add_option("--repo", o.repo, "the repository")->capture_default_str();
  cmd->add_option("--index-dir", o.index_dir, "its index (default: REPO/.mnemo)");
  // Settings flags go into a layer over the repository's config file.
  cmd->add_option_function<std::string>(
      "--model",
      [&o](const std::string& path) { o.settings_flags["model"] = fs::absolute(path).string(); },
      "the model (GGUF file or Hugging Face folder); default: \"model\" in "
      "REPO/.mnemo/config.json, else the built-in model");
  cmd->add_option_function<std::size_t>(
      "--memory-window",
      [&o](std::size_t tokens) { o.settings_flags["memory"]["window"] = tokens; },
      "the window the memory was indexed with (mnemo index --memory-window; default 1024)");
  cmd->add_option_function<std::size_t>(
      "--top-k", [&o](std::size_t k) { o.settings_flags["memory"]["topK"] = k; },
      "memory blocks each query head reads (default 8)");
  cmd->add_option_function<double>(
      "--next-token-weight", [&o](double w) { o.settings_flags["memory"]["nextTokenWeight"] = w; },
      "the share of each next token the memory's nearest stored states vote (default 0.5; "
      "0: off)");
  cmd->add_flag("--no-memory", o.no_memory, "answer from the document alone");
  cmd->add_option("--max-tokens", o.max_tokens, "the most tokens a suggestion may have")
      ->capture_default_str();
  cmd->add_option("--alternatives", o.alternatives, "distinct suggestions per query (beam search)")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  cmd->add_option_function<double>(
      "--identifier-boost",
      [&o](double boost) { o.settings_flags["inline"]["identifierBoost"] = boost; },
      "add this to the logits of tokens on the way to an identifier of the repository (its "
      "symbol index) or the document while a suggestion writes one (default 0: off)");
  cmd->add_option_function<std::size_t>(
      "--declaration-tokens",
      [&o](std::size_t n) { o.settings_flags["prompt"]["declarationTokens"] = n; },
      "budget of the declarations block before the prefix (default 256; 0: none)");
  add_name_prior_flags(*cmd, o.settings_flags);
  cmd->add_flag_function(
      "--free-names", [&o](std::int64_t) { o.settings_flags["names"]["hold"] = false; },
      "do not hold the suggestion's first identifier to the names at the cursor");
  cmd->add_option_function<std::size_t>(
      "--prefix-tokens", [&o](std::size_t n) { o.settings_flags["prompt"]["prefixTokens"] = n; },
      "budget of the text before the cursor (default 1536)");
  cmd->add_option_function<std::size_t>(
      "--suffix-tokens", [&o](std::size_t n) { o.settings_flags["prompt"]["suffixTokens"] = n; },
      "budget of the text after the cursor (default 512)");
  return cmd;
}

int run_complete(const CompleteCommandOptions& o) {
  if (o.query.empty() == o.batch.empty()) {
    std::cerr << "mnemo complete: give FILE:LINE:COL or --batch QUERIES.jsonl\n";
    return 2;
  }
  std::optional<Query> single;
  if (!o.query.empty()) {
    single = parse_position(o.query);
    if (!single) {
      std::cerr << "mnemo complete: '" << o.query
                << "' is not FILE:LINE:COL (0-based line, 0-based byte column)\n";
      return 2;
    }
  }
  std::vector<std::string> problems;
  const CompletionSettings settings =
      resolve_settings(fs::absolute(o.repo), json(), o.settings_flags, problems);
  for (const std::string& problem : problems) spdlog::warn("settings: {}", problem);
  if (settings.model.empty()) {
    std::cerr << "mnemo complete: no model: pass --model, or set \"model\" in "
              << (fs::path(o.repo) / ".mnemo" / "config.json").string() << "\n";
    return 2;
  }
  auto loaded = model::load_model(settings.model.string());
  if (!loaded) {
    std::cerr << "mnemo complete: " << loaded.error().message << "\n";
    return 1;
  }
  std::unique_ptr<indexer::RepositoryMemory> memory;
  if (!o.no_memory) {
    indexer::IndexOptions index;
    index.root = o.repo;
    index.index_dir = o.index_dir;
    const auto options = memory_options(settings, indexer::index_dir_of(index));
    auto read = indexer::load_repository_memory(loaded.value().transformer->config(),
                                                memory_model_id(settings.model), options);
    if (!read) {
      std::cerr << "mnemo complete: " << read.error().message << " (or pass --no-memory)\n";
      return 1;
    }
    if (read.value().problems > 0)
      spdlog::warn(
          "{} files of the memory failed their checks and are left out: run `mnemo "
          "index --model` again",
          read.value().problems);
    memory = std::make_unique<indexer::RepositoryMemory>(std::move(read).value());
  }
  ModelCompleter completer(loaded.value(), std::move(memory),
                           {settings.prefix_tokens, settings.suffix_tokens});
  completer.set_next_token_weight(settings.memory_next_token_weight);
  if (settings.identifier_boost > 0) {
    indexer::IndexOptions index;
    index.root = o.repo;
    index.index_dir = o.index_dir;
    auto names = repository_identifiers(indexer::index_dir_of(index));
    if (names) {
      completer.set_identifiers(std::move(names).value(), settings.identifier_boost);
    } else {
      spdlog::warn("identifier bias without the repository's names: {}", names.error());
    }
  }
  // The names at each cursor: libclang's and the symbol index's, when the repository has one.
  CursorContextSource names;
  names.settings = settings;
  names.tokenizer = loaded.value().tokenizer;
  if (settings.hold_names || settings.declaration_tokens > 0) {
    indexer::IndexOptions index;
    index.root = o.repo;
    index.index_dir = o.index_dir;
    const fs::path index_dir = indexer::index_dir_of(index);
    auto db = indexer::SymbolDatabase::open(indexer::symbol_database_path(index_dir),
                                            indexer::SymbolDatabase::OpenMode::kReadOnly);
    if (db) {
      names.db = std::move(db).value();
      names.index = std::make_unique<SymbolDatabaseNames>(*names.db);
    } else {
      spdlog::warn("names at the cursor without the symbol index: {}", db.error().message);
    }
    names.clang = std::make_unique<ClangMenuSource>(
        std::vector<std::string>{"/proc/self/exe", "parse-worker"},
        o.index_dir.empty() ? fs::path() : fs::absolute(o.index_dir));
    names.finder = std::make_unique<CursorNameFinder>(
        [clang = names.clang.get()](const SemanticQuery& q, const lsp::CancellationToken& t) {
          return clang->complete(q, t);
        },
        names.index.get());
  }
  Answerer answerer(o, completer, names);
  if (single) {
    std::cout << dump(answerer.answer(*single)) << std::endl;
    return 0;
  }
  std::ifstream file;
  if (o.batch != "-") {
    file.open(o.batch);
    if (!file) {
      std::cerr << "mnemo complete: " << o.batch << ": cannot be read\n";
      return 1;
    }
  }
  std::istream& in = o.batch == "-" ? std::cin : file;
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json answer;
    try {
      answer = answerer.answer(query_from_json(json::parse(line)));
    } catch (const json::exception& e) {
      answer = {{"error", "query " + std::to_string(number) + ": " + e.what()},
                {"latency_ms", 0.0}};
    }
    std::cout << dump(answer) << std::endl;
  }
  return 0;
}

}  // namespace mnemo::server
