// Needle in a repository (`mnemo eval --needle`): can the memory recall one
// definition among millions of tokens? Each trial plants a new function with a unique name,
// mnemo_needle_<8 random hex digits>, between two declarations of a random file of the
// repository's memory (that file encoded again), and asks, at a line start of another
// file, for the completion of "auto value = mnemo_needle_". Only the planted file spells
// the 8 digits, so the memory is the only way to them: recall is the share of trials whose
// suggestion starts with them. The same trials run with memories of several sizes (the
// planted file plus other files of the repository, in random order, up to the size), once
// without memory, and once with the planted function in the prompt instead (laid out as
// eval's oracle): the control that shows the model can recall the digits when it reads them.
// Each ask runs twice: by the model alone, and as the full system does, holding the name
// being typed to the repository's names (the planted one among them, as the symbol index
// has it once the planted file is indexed): "recall" is the system's, "recall_model_alone"
// the model's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "indexer/repository_memory.h"
#include "lsp/result.h"
#include "model/model_loader.h"
#include "server/completer/completion_prompt.h"

namespace mnemo::server {

struct NeedleOptions {
  std::uint64_t seed = 1;
  std::size_t trials = 20;
  /// Memory sizes in tokens, each capped at the repository's; empty: 100K and every tenfold
  /// below the repository's size, and the whole repository.
  std::vector<std::size_t> memory_tokens;
  std::size_t max_tokens = 24;
  std::size_t window = 1024;  ///< the window the memory was encoded with
  PromptBudget budget;
};

/// `memory`: the repository's, as loaded for completion (not changed: each size gets a
/// tier of its own sharing its files' tensors). {"config", "no_memory": {"recall", "found"},
/// "oracle": {"recall", "found"}, "results": [{"memory_tokens", "files", "recall": {mean, low,
/// high}, "found"}]}.
Result<nlohmann::json, std::string> run_needle(const model::LoadedModel& model,
                                               const indexer::RepositoryMemory& memory,
                                               const std::filesystem::path& root,
                                               const NeedleOptions& options);

/// run_needle's result as a markdown table.
std::string needle_markdown(const nlohmann::json& result);

}  // namespace mnemo::server
