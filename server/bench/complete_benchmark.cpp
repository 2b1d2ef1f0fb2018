#include "server/bench/complete_benchmark.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <random>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "indexer/compile_flags.h"
#include "indexer/repository_indexer.h"
#include "indexer/repository_memory.h"
#include "indexer/repository_walk.h"
#include "indexer/symbol_database.h"
#include "model/model_loader.h"
#include "server/bench/bench_lsp_client.h"
#include "server/completer/held_names.h"
#include "server/completer/model_completer.h"
#include "server/completion/model_completion_engine.h"
#include "server/completion/symbolic_completion_engine.h"
#include "server/eval/eval_metrics.h"
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
  std::string path;
  std::string text;
  std::size_t cursor = 0;
};

/// `n` cursors in the middle of non-trivial lines of the tree's C/C++ files.
std::vector<Query> sample_queries(const fs::path& root, std::size_t n, std::uint64_t seed) {
  auto walked = indexer::walk_repository(root, {});
  if (!walked) throw std::runtime_error(walked.error().message);
  std::vector<std::string> files;
  for (const auto& f : walked.value().files) {
    if (indexer::is_c_family(f.path)) files.push_back(f.path);
  }
  if (files.empty()) throw std::runtime_error(root.string() + " has no C/C++ file");
  std::sort(files.begin(), files.end());
  std::mt19937_64 random(seed);
  std::vector<Query> out;
  for (std::size_t attempt = 0; out.size() < n && attempt < 100 * n; ++attempt) {
    const std::string& path = files[random() % files.size()];
    auto contents = indexer::read_file_contents(root / path);
    if (!contents) continue;
    std::vector<std::pair<std::size_t, std::size_t>> lines;  // start, length
    for (std::size_t start = 0; start < contents->size();) {
      std::size_t end = contents->find('\n', start);
      if (end == std::string::npos) end = contents->size();
      if (end - start >= 20) lines.emplace_back(start, end - start);
      start = end + 1;
    }
    if (lines.empty()) continue;
    const auto [start, length] = lines[random() % lines.size()];
    out.push_back({path, std::move(*contents), start + length / 2});
  }
  return out;
}

/// A memory of `tokens` tokens of random keys, values and final states (with random
/// successors) in files of 4,096 tokens.
std::shared_ptr<indexer::RepositoryMemory> random_memory(const indexer::MemoryLayout& layout,
                                                         std::int64_t tokens) {
  const c10::InferenceMode guard;
  auto memory = std::make_shared<indexer::RepositoryMemory>();
  memory->layers = layout.layers;
  memory->tier = std::make_unique<model::memory::ExactTier>(layout.tier);
  memory->tier->reserve(tokens);
  const auto& c = layout.tier;
  constexpr std::int64_t kFileTokens = 4096;
  constexpr std::int64_t kVocabForNext = 8192;  // the votes' ids only need to be valid tokens
  for (std::int64_t done = 0, i = 0; done < tokens; done += kFileTokens, ++i) {
    const std::int64_t n = std::min(kFileTokens, tokens - done);
    const std::vector<std::int64_t> shape{static_cast<std::int64_t>(c.n_layers), c.n_head_kv, n,
                                          c.head_dim};
    at::Tensor states, next;
    if (c.next_token_dim > 0) {
      states = at::randn({n, c.next_token_dim});
      next = at::randint(kVocabForNext, {n}, at::kInt);
    }
    memory->tier->add_file("file" + std::to_string(i), at::randn(shape), at::randn(shape), states,
                           next);
  }
  return memory;
}

/// `text` with its position `offset` as LSP's (line, UTF-8 byte column).
json position_of(const std::string& text, std::size_t offset) {
  const std::size_t line_start = offset == 0 ? 0 : text.rfind('\n', offset - 1) + 1;
  return {
      {"line", std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n')},
      {"character", offset - line_start}};
}

json summary(const std::vector<double>& ms) {
  if (ms.empty()) return {{"n", 0}};
  double sum = 0;
  for (const double m : ms) sum += m;
  return {{"n", ms.size()},
          {"p50_ms", percentile(ms, 0.5)},
          {"p90_ms", percentile(ms, 0.9)},
          {"p99_ms", percentile(ms, 0.99)},
          {"max_ms", percentile(ms, 1.0)},
          {"mean_ms", sum / static_cast<double>(ms.size())}};
}

}  // namespace

json run_complete_benchmark(const CompleteBenchmarkOptions& o) {
  auto loaded = model::load_model(o.model);
  if (!loaded) throw std::runtime_error(loaded.error().message);
  at::manual_seed(static_cast<std::int64_t>(o.seed));
  const std::vector<Query> queries = sample_queries(o.repo, o.queries, o.seed);
  const indexer::MemoryLayout layout =
      indexer::memory_layout(loaded.value().transformer->config(), "bench", {});
  const PromptBudget budget{o.prefix_tokens, o.suffix_tokens};

  // Index 0: no memory; then one per size.
  std::vector<std::unique_ptr<ModelCompleter>> completers;
  completers.push_back(std::make_unique<ModelCompleter>(loaded.value(), nullptr, budget));
  for (const std::int64_t size : o.sizes) {
    std::cerr << "building a memory of " << size << " tokens\n";
    completers.push_back(
        std::make_unique<ModelCompleter>(loaded.value(), random_memory(layout, size), budget));
    completers.back()->set_next_token_weight(o.next_token_weight);
  }
  std::vector<std::vector<double>> ms(completers.size()), keystroke_ms(completers.size());
  std::vector<std::size_t> prompt_tokens;
  std::vector<double> cached_fraction;
  model::StopRules none;  // exactly max_tokens tokens

  // The names at each cursor and the declarations block, as `mnemo serve` finds them (libclang
  // in its worker, the tree's symbol index when it has one), timed on their own: a fresh word
  // asks libclang, a keystroke inside it reuses the answer.
  const CompletionSettings defaults;
  const fs::path root = fs::absolute(o.repo);
  std::unique_ptr<indexer::SymbolDatabase> db;
  std::unique_ptr<SymbolDatabaseNames> index;
  if (auto opened = indexer::SymbolDatabase::open(indexer::symbol_database_path(root / ".mnemo"),
                                                  indexer::SymbolDatabase::OpenMode::kReadOnly)) {
    db = std::move(opened).value();
    index = std::make_unique<SymbolDatabaseNames>(*db);
  }
  ClangMenuSource clang({"/proc/self/exe", "parse-worker"}, {});
  CursorNameFinder finder(
      [&clang](const SemanticQuery& q, const lsp::CancellationToken& t) {
        return clang.complete(q, t);
      },
      index.get());
  std::vector<double> names_ms, names_keystroke_ms;
  const auto& tokenizer = *loaded.value().tokenizer;
  const auto with_names = [&](CompletionRequest& r, const std::string& path,
                              std::vector<double>& timed) {
    const auto start = Clock::now();
    CursorNamesRequest at;
    at.path = root / path;
    at.root = root;
    at.file = path;
    at.text = r.text;
    at.cursor = r.cursor;
    const CursorNames names = finder.find(at, lsp::CancellationToken());
    const HeldNames held = held_names(names, defaults);
    r.names = held.names;
    r.slot = held.slot;
    if (index) {
      DeclarationBlockRequest block;
      block.text = r.text;
      block.cursor = r.cursor;
      block.file = path;
      block.names = &names;
      block.budget_tokens = defaults.declaration_tokens;
      r.context = declaration_block(*index, block, [&](std::string_view t) {
        return tokenizer.encode(t, false, false).size();
      });
    }
    timed.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  };
  for (const Query& q : queries) {  // each file parsed once before the timed runs, as an
    CursorNamesRequest at;          // editor's opened document is
    at.path = root / q.path;
    at.root = root;
    at.file = q.path;
    at.text = q.text;
    at.cursor = 0;
    finder.find(at, lsp::CancellationToken());
  }

  for (std::size_t qi = 0; qi < queries.size(); ++qi) {
    CompletionRequest r;
    r.text = queries[qi].text;
    r.cursor = queries[qi].cursor;
    r.max_tokens = o.max_tokens;
    r.stop = none;
    with_names(r, queries[qi].path, names_ms);
    // The user then types one more character at the cursor: the same completer again, whose
    // cache holds the prompt up to the cursor.
    std::string typed = queries[qi].text;
    typed.insert(queries[qi].cursor, 1, typed[queries[qi].cursor - 1]);
    CompletionRequest keystroke = r;
    keystroke.text = typed;
    keystroke.cursor = r.cursor + 1;
    with_names(keystroke, queries[qi].path, names_keystroke_ms);
    // Rotated, so that no size always runs first (or right after a long prefill).
    for (std::size_t k = 0; k < completers.size(); ++k) {
      const std::size_t i = (qi + k) % completers.size();
      for (const bool again : {false, true}) {
        const auto start = Clock::now();
        auto result = completers[i]->complete(again ? keystroke : r);
        const double elapsed =
            std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (!result) throw std::runtime_error(queries[qi].path + ": " + result.error().message);
        (again ? keystroke_ms : ms)[i].push_back(elapsed);
        if (i == 0 && !again) prompt_tokens.push_back(result.value().prompt_tokens);
        if (i == 0 && again) {
          cached_fraction.push_back(static_cast<double>(result.value().prompt_tokens_cached) /
                                    static_cast<double>(result.value().prompt_tokens));
        }
      }
    }
    std::cerr << "query " << qi + 1 << "/" << queries.size() << ": " << queries[qi].path << "\n";
  }

  // The same completions as an editor sees them: through the server's LSP session, over a
  // socket, as automatic inline requests (no debounce) after didOpen, then after a didChange
  // that types the character. A keystroke the engine answers from its last suggestion
  // (typed ahead) never reaches the model and is counted apart.
  std::atomic<std::size_t> serving{0};
  std::atomic<std::size_t> serving_query{0};
  std::vector<double> lsp_names_ms;
  std::atomic<std::size_t> model_calls{0};
  InlineModel model =
      [&](const ModelInlineRequest& request,
          const lsp::CancellationToken& token) -> EngineResult<std::vector<ModelSuggestion>> {
    ++model_calls;
    CompletionRequest r;
    r.text = request.text;
    r.cursor = request.cursor;
    r.max_tokens = o.max_tokens;
    r.stop = none;
    with_names(r, queries[serving_query].path, lsp_names_ms);
    auto result = completers[serving]->complete(r, [&] { return token.cancelled(); });
    if (!result) return EngineError{EngineError::Kind::kInternal, result.error().message};
    std::vector<ModelSuggestion> out;
    for (Suggestion& s : result.value().suggestions) out.push_back({std::move(s.text), s.score});
    return out;
  };
  std::vector<std::vector<double>> client_ms(completers.size()),
      client_keystroke_ms(completers.size());
  std::size_t typed_ahead = 0;
  {
    BenchLspClient client(std::make_shared<ModelCompletionEngine>(
        std::make_shared<SymbolicCompletionEngine>(), model,
        ModelCompletionOptions{true, std::chrono::milliseconds(0)}));
    for (std::size_t qi = 0; qi < queries.size(); ++qi) {
      const Query& q = queries[qi];
      for (std::size_t k = 0; k < completers.size(); ++k) {
        const std::size_t i = (qi + k) % completers.size();
        serving = i;
        serving_query = qi;
        const std::string uri =
            "file:///bench/" + std::to_string(qi) + "/" + std::to_string(i) + "/" + q.path;
        client.notify("textDocument/didOpen",
                      {{"textDocument",
                        {{"uri", uri}, {"languageId", "cpp"}, {"version", 1}, {"text", q.text}}}});
        const json at = position_of(q.text, q.cursor);
        const json inline_params = {
            {"textDocument", {{"uri", uri}}}, {"position", at}, {"context", {{"triggerKind", 2}}}};
        double elapsed = 0;
        json answer = client.request("textDocument/inlineCompletion", inline_params, elapsed);
        if (!answer.contains("result"))
          throw std::runtime_error(q.path + ": through LSP: " + answer.dump());
        client_ms[i].push_back(elapsed);
        client.notify("textDocument/didChange",
                      {{"textDocument", {{"uri", uri}, {"version", 2}}},
                       {"contentChanges",
                        {{{"range", {{"start", at}, {"end", at}}},
                          {"text", std::string(1, q.text[q.cursor - 1])}}}}});
        json typed_at = at;
        typed_at["character"] = at["character"].get<std::size_t>() + 1;
        json keystroke_params = inline_params;
        keystroke_params["position"] = typed_at;
        const std::size_t calls = model_calls;
        answer = client.request("textDocument/inlineCompletion", keystroke_params, elapsed);
        if (!answer.contains("result"))
          throw std::runtime_error(q.path + ": through LSP: " + answer.dump());
        if (model_calls == calls) {
          ++typed_ahead;
        } else {
          client_keystroke_ms[i].push_back(elapsed);
        }
        client.notify("textDocument/didClose", {{"textDocument", {{"uri", uri}}}});
      }
      std::cerr << "through LSP: query " << qi + 1 << "/" << queries.size() << "\n";
    }
  }
  const auto client_summary = [&](std::size_t i) {
    return json{{"fresh", summary(client_ms[i])}, {"keystroke", summary(client_keystroke_ms[i])}};
  };

  json results = json::array();
  for (std::size_t s = 0; s < o.sizes.size(); ++s) {
    json r = summary(ms[s + 1]);
    r["memory_tokens"] = o.sizes[s];
    r["keystroke"] = summary(keystroke_ms[s + 1]);
    r["client"] = client_summary(s + 1);
    results.push_back(r);
  }
  double mean_cached = 0;
  for (const double f : cached_fraction) mean_cached += f;
  double mean_prompt = 0;
  for (const std::size_t t : prompt_tokens) mean_prompt += static_cast<double>(t);
  json out{{"config",
            {{"model", o.model},
             {"repo", o.repo},
             {"queries", queries.size()},
             {"max_tokens", o.max_tokens},
             {"prefix_tokens", o.prefix_tokens},
             {"suffix_tokens", o.suffix_tokens},
             {"mean_prompt_tokens", mean_prompt / static_cast<double>(prompt_tokens.size())},
             {"keystroke_mean_prompt_fraction_cached",
              mean_cached / static_cast<double>(cached_fraction.size())},
             {"memory_layers", layout.layers},
             {"top_k", layout.tier.top_k},
             {"next_token_weight", o.next_token_weight},
             {"block_size", layout.tier.block_size},
             {"threads", at::get_num_threads()},
             {"symbol_index", index != nullptr}}},
           {"names", {{"fresh", summary(names_ms)}, {"keystroke", summary(names_keystroke_ms)}}},
           {"no_memory", summary(ms[0])},
           {"results", results}};
  out["no_memory"]["keystroke"] = summary(keystroke_ms[0]);
  out["no_memory"]["client"] = client_summary(0);
  out["client_keystrokes_typed_ahead"] = typed_ahead;
  if (o.sizes.size() >= 2) {
    out["ratio_p50_largest_to_smallest"] =
        results.back()["p50_ms"].get<double>() / results.front()["p50_ms"].get<double>();
  }
  return out;
}

}  // namespace mnemo::server
