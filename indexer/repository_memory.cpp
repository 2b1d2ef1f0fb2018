#include "indexer/repository_memory.h"

#include "indexer/memory_content.h"

#include "indexer/memory_encoder.h"
#include "model/memory/exact/exact_tier_store.h"
#include "model/model_config.h"

namespace mnemo::indexer {
namespace store = model::memory::store;

namespace {

std::string joined(const std::vector<std::size_t>& values) {
  std::string out;
  for (const std::size_t v : values) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

}  // namespace

MemoryLayout memory_layout(const model::ModelConfig& model, const std::string& model_id,
                           const MemoryIndexOptions& options) {
  MemoryLayout layout;
  layout.layers = options.layers.empty() ? model::memory_layers(model) : options.layers;
  layout.tier = model::memory::exact_tier_config(model, layout.layers.size());
  layout.tier.block_size = options.block_size;
  layout.tier.storage = options.storage;
  layout.tier.top_k = options.top_k;
  layout.tier.budget_bytes = options.budget_bytes;
  if (options.next_token) layout.tier.next_token_dim = static_cast<std::int64_t>(model.n_embd);
  layout.fields =
      model::memory::store_fields(layout.tier, {{"memory.model", model_id},
                                                {"memory.layers", joined(layout.layers)},
                                                {"memory.window", std::to_string(options.window)},
                                                {"memory.content", kContentRulesVersion}});
  return layout;
}

model::Result<RepositoryMemory, IndexRunError> load_repository_memory(
    const model::ModelConfig& model, const std::string& model_id,
    const MemoryIndexOptions& options) {
  const MemoryLayout layout = memory_layout(model, model_id, options);
  auto opened = store::MemoryStore::open(options.store_dir, layout.fields);
  if (!opened) {
    const std::string where = options.store_dir.string();
    switch (opened.error().kind) {
      case store::StoreError::Kind::kNotFound:
        return IndexRunError{"no memory in " + where + ": run `mnemo index --model` first"};
      case store::StoreError::Kind::kMismatch:
        return IndexRunError{
            "the memory in " + where + " was made by another model or with other options (" +
            opened.error().message + "): run `mnemo index --model` with this model again"};
      default:
        return IndexRunError{"memory: " + opened.error().message};
    }
  }
  auto loaded = model::memory::load_tier(*opened.value(), layout.tier);
  if (!loaded) return IndexRunError{"memory: " + loaded.error().message};
  RepositoryMemory out;
  out.tier = std::move(loaded.value().tier);
  out.layers = layout.layers;
  out.problems = loaded.value().to_reindex.size();
  return out;
}

}  // namespace mnemo::indexer
