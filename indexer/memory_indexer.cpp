#include "indexer/memory_indexer.h"

#include <c10/util/Exception.h>

#include <chrono>
#include <map>
#include <set>
#include <stdexcept>
#include <utility>

#include "indexer/content_hash.h"
#include "model/memory/exact/exact_tier_store.h"

namespace mnemo::indexer {
namespace fs = std::filesystem;
namespace store = model::memory::store;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string joined(const std::vector<std::size_t>& values) {
  std::string out;
  for (const std::size_t v : values) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

}  // namespace

model::Result<std::unique_ptr<MemoryIndexer>, IndexRunError> MemoryIndexer::open(
    model::LoadedModel model, const std::string& model_id, const MemoryIndexOptions& options) {
  if (!model.transformer || !model.tokenizer) return IndexRunError{"memory: no model"};
  std::unique_ptr<MemoryIndexer> indexer(new MemoryIndexer);
  const std::vector<std::size_t> layers =
      options.layers.empty() ? default_memory_layers(model.transformer->config().n_layer)
                             : options.layers;
  try {
    indexer->encoder_ = std::make_unique<MemoryEncoder>(model.transformer, model.tokenizer, layers,
                                                        options.window, options.chunk);
  } catch (const std::invalid_argument& e) {
    return IndexRunError{std::string("memory: ") + e.what()};
  }
  indexer->config_ = model::memory::exact_tier_config(model.transformer->config(), layers.size());
  indexer->config_.block_size = options.block_size;
  indexer->config_.storage = options.storage;
  const store::StringMap fields = model::memory::store_fields(
      indexer->config_, {{"memory.model", model_id},
                         {"memory.layers", joined(layers)},
                         {"memory.window", std::to_string(options.window)}});
  const store::StoreOptions store_options{options.durable};
  auto opened = store::MemoryStore::open(options.store_dir, fields, store_options);
  if (!opened) {
    const auto kind = opened.error().kind;
    if (kind != store::StoreError::Kind::kNotFound && kind != store::StoreError::Kind::kMismatch &&
        kind != store::StoreError::Kind::kCorrupt) {
      return IndexRunError{"memory: " + opened.error().message};
    }
    // No memory yet, or one of another model or layout: derived data, made anew.
    indexer->recreated_ = kind != store::StoreError::Kind::kNotFound;
    opened = store::MemoryStore::create(options.store_dir, fields, store_options);
    if (!opened) return IndexRunError{"memory: " + opened.error().message};
  }
  indexer->store_ = std::move(opened).value();
  return indexer;
}

model::Result<MemoryIndexReport, IndexRunError> MemoryIndexer::update(
    const fs::path& root, const std::vector<WalkedFile>& walked,
    const std::function<void(const IndexProgress&)>& progress, const std::atomic<bool>* cancel) {
  const auto start = Clock::now();
  MemoryIndexReport report;
  report.recreated = recreated_;
  recreated_ = false;
  const std::vector<WalkedFile> files = headers_first(walked);
  report.files_total = files.size();

  // What each stored segment was made from (its header only: load() checks and maps, the
  // tensors stay unread). A segment with a problem is simply made again.
  std::map<std::string, std::string> stored_hash;
  std::set<std::string> stored;
  {
    auto loaded = store_->load();
    if (!loaded) return IndexRunError{"memory: " + loaded.error().message};
    for (const auto& segment : loaded.value().segments) {
      stored.insert(segment->key());
      const auto& metadata = segment->metadata();
      if (const auto it = metadata.find("hash"); it != metadata.end())
        stored_hash[segment->key()] = it->second;
    }
    for (const store::SegmentProblem& problem : loaded.value().problems) {
      if (!problem.file_key.empty()) stored.insert(problem.file_key);
    }
  }
  std::set<std::string> present;
  for (const WalkedFile& f : files) present.insert(f.path);
  for (const std::string& key : stored) {
    if (present.count(key) != 0) continue;
    if (auto removed = store_->remove(key); !removed)
      return IndexRunError{"memory: " + removed.error().message};
    ++report.files_removed;
  }

  IndexProgress state;
  state.files_total = files.size();
  for (const WalkedFile& f : files) state.bytes_total += f.size;
  for (const WalkedFile& f : files) {
    state.current = f.path;
    if (progress) progress(state);
    if (cancel != nullptr && cancel->load()) {
      report.cancelled = true;
      break;
    }
    ++state.files_done;
    state.bytes_done += f.size;
    const auto contents = read_file_contents(root / f.path);
    if (!contents) {
      report.failed.push_back({f.path, "cannot read it"});
      continue;
    }
    const std::string hash = git_blob_id(*contents);
    if (const auto it = stored_hash.find(f.path); it != stored_hash.end() && it->second == hash) {
      ++report.files_unchanged;
      continue;
    }
    const auto encode_start = Clock::now();
    FileMemory memory;
    try {
      memory = encoder_->encode(*contents);
    } catch (const std::exception& e) {  // c10::Error included: a file the model cannot take
      report.failed.push_back({f.path, std::string("the model failed on it: ") + e.what()});
      continue;
    }
    report.encode_seconds += seconds_since(encode_start);
    if (memory.tokens == 0) {  // an empty file has nothing to remember
      (void)store_->remove(f.path);
      ++report.files_encoded;
      continue;
    }
    // A tier of one file turns the keys and values into the stored blocks and
    // representatives; the store keeps them, not this process.
    const auto store_start = Clock::now();
    model::memory::ExactTier tier(config_);
    tier.add_file(f.path, memory.keys, memory.values);
    auto saved = model::memory::save_file(*store_, tier, f.path, {{"hash", hash}});
    if (!saved) return IndexRunError{"memory: " + saved.error().message};
    report.store_seconds += seconds_since(store_start);
    ++report.files_encoded;
    report.tokens_encoded += memory.tokens;
  }
  state.current.clear();
  if (progress) progress(state);
  report.total_seconds = seconds_since(start);
  return report;
}

}  // namespace mnemo::indexer
