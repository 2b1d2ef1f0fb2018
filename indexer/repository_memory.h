// A repository's long-term memory as a model reads it: the layout the indexer writes
// (memory_indexer.h) for a model and its options, and the memory loaded back from an index
// for completion.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "indexer/memory_indexer.h"
#include "model/memory/exact/exact_tier.h"
#include "model/memory/store/memory_store.h"
#include "model/model_config.h"

namespace mnemo::indexer {

/// Where and how a model's memory is kept: its memory layers, the tier's geometry, and the
/// fields of the store's header, which a memory made by another model or with other
/// options does not match.
struct MemoryLayout {
  std::vector<std::size_t> layers;
  model::memory::ExactTierConfig tier;
  model::memory::store::StringMap fields;
};

MemoryLayout memory_layout(const model::ModelConfig& model, const std::string& model_id,
                           const MemoryIndexOptions& options);

struct RepositoryMemory {
  std::unique_ptr<model::memory::ExactTier> tier;
  std::vector<std::size_t> layers;  ///< the model layers that read it, in the tier's order
  std::size_t problems = 0;         ///< segments that failed their checks: not in the tier
};

/// Loads the memory in options.store_dir for `model_id`, every segment checked. The store
/// is released before this returns (the tier maps its segments), so an indexer may write
/// it afterwards. Fails, saying what to run, when there is none, when it was made by
/// another model or with other options, or when another process holds it.
model::Result<RepositoryMemory, IndexRunError> load_repository_memory(
    const model::ModelConfig& model, const std::string& model_id,
    const MemoryIndexOptions& options);

}  // namespace mnemo::indexer
