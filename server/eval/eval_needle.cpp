#include "server/eval/eval_needle.h"

#include <algorithm>
#include <optional>
#include <random>
#include <sstream>

#include "indexer/memory_encoder.h"
#include "indexer/repository_walk.h"
#include "model/memory/exact/exact_tier.h"
#include "server/completer/model_completer.h"
#include "server/completer/retrieval_prompt.h"
#include "server/eval/eval_metrics.h"
#include "server/eval/eval_report.h"

namespace mnemo::server {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kStem = "mnemo_needle_";
constexpr const char* kUse = "auto value = mnemo_needle_";
/// The planted file is encoded again in every trial: one of at most this many tokens.
constexpr std::int64_t kMaxPlantedFileTokens = 8192;

struct MemoryFile {
  std::string id;
  std::int64_t tokens = 0;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
};

bool is_c_family(const std::string& path) {
  static const std::vector<std::string> extensions{".c",  ".cc",  ".cpp", ".cxx", ".h",
                                                   ".hh", ".hpp", ".hxx", ".ipp", ".inl"};
  const std::string extension = fs::path(path).extension().string();
  return std::find(extensions.begin(), extensions.end(), extension) != extensions.end();
}

/// Where a line may go between two declarations: the text's start and every line start
/// after a blank line; the end when there is none but the start.
std::vector<std::size_t> declaration_gaps(const std::string& text) {
  std::vector<std::size_t> gaps{0};
  for (std::size_t i = 1; i < text.size(); ++i)
    if (text[i - 1] == '\n' && text[i] == '\n' && i + 1 < text.size()) gaps.push_back(i + 1);
  if (gaps.size() == 1) gaps.push_back(text.size());
  return gaps;
}

template <class T>
const T& pick(const std::vector<T>& from, std::mt19937_64& random) {
  return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(random)];
}

std::string random_hex(std::mt19937_64& random) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 8; ++i) out += digits[random() % 16];
  return out;
}

/// The default sizes: 100K and every tenfold below `total`, then `total`.
std::vector<std::size_t> default_sizes(std::size_t total) {
  std::vector<std::size_t> sizes;
  for (std::size_t s = 100000; s < total; s *= 10) sizes.push_back(s);
  sizes.push_back(total);
  return sizes;
}

bool recalled(const CompletionResult& result, const std::string& hex) {
  return !result.suggestions.empty() && result.suggestions.front().text.rfind(hex, 0) == 0;
}

}  // namespace

Result<json, std::string> run_needle(const model::LoadedModel& model,
                                     const indexer::RepositoryMemory& memory, const fs::path& root,
                                     const NeedleOptions& options) {
  const model::memory::ExactTier& full = *memory.tier;
  std::vector<MemoryFile> files;
  std::int64_t total = 0;
  for (const std::string& id : full.file_ids()) {
    MemoryFile f{id, 0, full.file_tensors(id)};
    for (const auto& [name, tensor] : f.tensors)
      if (name == "n_tokens") f.tokens = tensor.item<std::int64_t>();
    if (f.tensors.empty() || f.tokens == 0) continue;  // dropped by the memory's budget
    total += f.tokens;
    files.push_back(std::move(f));
  }
  // Where the needle may go and where it may be asked for: C or C++ files that can be read.
  std::vector<std::size_t> hosts, sites;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (!is_c_family(files[i].id) || !fs::is_regular_file(root / files[i].id)) continue;
    sites.push_back(i);
    if (files[i].tokens <= kMaxPlantedFileTokens) hosts.push_back(i);
  }
  if (hosts.empty() || sites.size() < 2)
    return failure(std::string(
        "the memory needs two C or C++ files, one of at most 8192 tokens, that can be read"));
  std::vector<std::size_t> sizes = options.memory_tokens.empty()
                                       ? default_sizes(static_cast<std::size_t>(total))
                                       : options.memory_tokens;
  for (std::size_t& s : sizes) s = std::min(s, static_cast<std::size_t>(total));
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());

  const indexer::MemoryEncoder encoder(model.transformer, model.tokenizer, memory.layers,
                                       options.window, /*chunk=*/256,
                                       memory.tier->config().next_token_dim > 0);
  ModelCompleter without_memory(model, nullptr, options.budget);
  std::mt19937_64 random(options.seed);
  // Each ask runs twice: the model alone, and as the full system, which holds the name being
  // typed to the repository's names, the planted one among them once its file is indexed.
  std::vector<double> no_memory_hits, oracle_hits, no_memory_free, oracle_free;
  std::vector<std::vector<double>> hits(sizes.size()), hits_free(sizes.size());
  std::vector<std::int64_t> tokens_used(sizes.size(), 0);
  std::vector<std::size_t> files_used(sizes.size(), 0);
  for (std::size_t trial = 0; trial < options.trials; ++trial) {
    const std::size_t host = pick(hosts, random);
    std::size_t site = pick(sites, random);
    while (site == host) site = pick(sites, random);
    const std::string hex = random_hex(random);
    auto host_text = indexer::read_file_contents(root / files[host].id);
    auto site_text = indexer::read_file_contents(root / files[site].id);
    if (!host_text || !site_text)
      return failure(std::string("a file of the memory cannot be read"));
    std::string planted = *host_text;
    const std::size_t at = pick(declaration_gaps(planted), random);
    const std::string function = "int " + std::string(kStem) + hex +
                                 "(int value) { return value + " +
                                 std::to_string(random() % 90 + 10) + "; }\n";
    const bool line_break_first = at > 0 && planted[at - 1] != '\n';
    planted.insert(at, (line_break_first ? "\n" : "") + function + "\n");
    const std::string prompt = site_text->substr(0, pick(declaration_gaps(*site_text), random)) +
                               (site_text->empty() || site_text->back() == '\n' ? "" : "\n") + kUse;
    const indexer::FileMemory needle = encoder.encode(planted);
    const auto held = std::make_shared<const model::NameSet>(
        std::vector<model::WeightedName>{{std::string(kStem) + hex, 0.0}});
    const auto ask = [&](ModelCompleter& completer, CompletionRequest r,
                         std::vector<double>& system,
                         std::vector<double>& alone) -> std::optional<std::string> {
      auto free = completer.complete(r);
      if (!free) return free.error().message;
      alone.push_back(recalled(free.value(), hex) ? 1 : 0);
      r.names = held;
      auto named = completer.complete(r);
      if (!named) return named.error().message;
      system.push_back(recalled(named.value(), hex) ? 1 : 0);
      return std::nullopt;
    };

    CompletionRequest request;
    request.text = prompt;
    request.cursor = prompt.size();
    request.memory_file = files[site].id;  // its text is the prompt
    request.max_tokens = options.max_tokens;
    model::StopRules end_of_line;
    end_of_line.end_of_line = true;
    end_of_line.end_of_generation = true;
    request.stop = end_of_line;
    if (auto failed = ask(without_memory, request, no_memory_hits, no_memory_free))
      return failure(*failed);

    // The control: the planted function in the prompt as eval's oracle lays out a
    // definition. A model that copies what it reads recalls the digits from there.
    const auto line = static_cast<std::size_t>(
        std::count(planted.begin(), planted.begin() + static_cast<std::ptrdiff_t>(at), '\n') +
        (line_break_first ? 2 : 1));
    const std::string with_function =
        retrieval_prompt(*model.tokenizer, {{files[host].id, line, line, function}}, prompt,
                         without_memory.budget().prefix_tokens);
    CompletionRequest shown = request;
    shown.text = with_function;
    shown.cursor = shown.text.size();
    if (auto failed = ask(without_memory, shown, oracle_hits, oracle_free)) return failure(*failed);

    // The other files in a random order, the same for every size of this trial.
    std::vector<std::size_t> others;
    for (std::size_t i = 0; i < files.size(); ++i)
      if (i != host && i != site) others.push_back(i);
    std::shuffle(others.begin(), others.end(), random);
    for (std::size_t s = 0; s < sizes.size(); ++s) {
      auto tier = std::make_unique<model::memory::ExactTier>(full.config());
      std::vector<model::memory::ExactTier::FileTensors> chosen;
      std::int64_t tokens = needle.tokens;
      for (const std::size_t i : others) {
        if (tokens >= static_cast<std::int64_t>(sizes[s])) break;
        chosen.push_back({files[i].id, files[i].tensors});
        tokens += files[i].tokens;
      }
      if (!tier->add_files_from_tensors(chosen).empty())
        return failure(std::string("the memory's files could not be shared with a smaller tier"));
      tier->add_file(files[host].id, needle.keys, needle.values, needle.states, needle.next);
      tokens_used[s] += tokens;
      files_used[s] += chosen.size() + 1;
      auto sized = std::make_shared<indexer::RepositoryMemory>();
      sized->tier = std::move(tier);
      sized->layers = memory.layers;
      ModelCompleter with_memory(model, sized, options.budget);
      if (auto failed = ask(with_memory, request, hits[s], hits_free[s])) return failure(*failed);
    }
  }
  const auto found = [](const std::vector<double>& trial_hits) {
    double n = 0;
    for (const double h : trial_hits) n += h;
    return static_cast<std::size_t>(n);
  };
  json results = json::array();
  for (std::size_t s = 0; s < sizes.size(); ++s) {
    const auto trials = static_cast<std::int64_t>(std::max<std::size_t>(options.trials, 1));
    results.push_back(
        {{"memory_tokens", tokens_used[s] / trials},
         {"files", files_used[s] / static_cast<std::size_t>(trials)},
         {"recall", interval_json(bootstrap_mean(hits[s], options.seed))},
         {"found", found(hits[s])},
         {"recall_model_alone", interval_json(bootstrap_mean(hits_free[s], options.seed))},
         {"found_model_alone", found(hits_free[s])}});
  }
  return success(
      json{{"config",
            {{"trials", options.trials},
             {"seed", options.seed},
             {"needle", std::string("int ") + kStem + "<8 hex digits>(int value) {...}"},
             {"asked", std::string(kUse)},
             {"repository_tokens", total}}},
           {"no_memory",
            {{"recall", interval_json(bootstrap_mean(no_memory_hits, options.seed))},
             {"found", found(no_memory_hits)},
             {"recall_model_alone", interval_json(bootstrap_mean(no_memory_free, options.seed))},
             {"found_model_alone", found(no_memory_free)}}},
           {"oracle",
            {{"recall", interval_json(bootstrap_mean(oracle_hits, options.seed))},
             {"found", found(oracle_hits)},
             {"recall_model_alone", interval_json(bootstrap_mean(oracle_free, options.seed))},
             {"found_model_alone", found(oracle_free)}}},
           {"results", results}});
}

std::string needle_markdown(const json& result) {
  std::ostringstream out;
  const auto percent = [](const json& i) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.0f [%.0f, %.0f]", 100 * i["mean"].get<double>(),
                  100 * i["low"].get<double>(), 100 * i["high"].get<double>());
    return std::string(buffer);
  };
  const std::size_t trials = result["config"]["trials"].get<std::size_t>();
  out << "| memory tokens (mean) | files | trials | recall % with the memory | recall % without "
         "| recall % with the function in the prompt |\n|---|---|---|---|---|---|\n";
  // The system's recall (the name held to the repository's names), then the model's alone.
  for (const char* key : {"recall", "recall_model_alone"}) {
    const bool alone = std::string(key) == "recall_model_alone";
    for (const json& r : result["results"]) {
      out << "| " << r["memory_tokens"].get<std::int64_t>() << (alone ? " (model alone)" : "")
          << " | " << r["files"].get<std::size_t>() << " | " << trials << " | " << percent(r[key])
          << " | " << percent(result["no_memory"][key]) << " | " << percent(result["oracle"][key])
          << " |\n";
    }
  }
  return out.str();
}

}  // namespace mnemo::server
