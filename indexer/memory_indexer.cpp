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

model::Result<const std::map<std::string, std::string>*, IndexRunError> MemoryIndexer::stored() {
  if (stored_loaded_) return &stored_;
  // The segments' headers only: load() checks and maps, the tensors stay unread. A segment
  // with a problem keeps no hash, so it is simply made again.
  auto loaded = store_->load();
  if (!loaded) return IndexRunError{"memory: " + loaded.error().message};
  stored_.clear();
  for (const auto& segment : loaded.value().segments) {
    const auto& metadata = segment->metadata();
    const auto it = metadata.find("hash");
    stored_[segment->key()] = it != metadata.end() ? it->second : "";
  }
  for (const store::SegmentProblem& problem : loaded.value().problems) {
    if (!problem.file_key.empty()) stored_[problem.file_key] = "";
  }
  stored_loaded_ = true;
  return &stored_;
}

model::Result<MemoryIndexer::Encoded, IndexRunError> MemoryIndexer::encode_and_store(
    const std::string& path, std::string_view contents, std::string& model_failure) {
  Encoded out;
  const auto encode_start = Clock::now();
  FileMemory memory;
  try {
    memory = encoder_->encode(contents);
  } catch (const std::exception& e) {  // c10::Error included: a file the model cannot take
    model_failure = std::string("the model failed on it: ") + e.what();
    return out;
  }
  out.encode_seconds = seconds_since(encode_start);
  const auto store_start = Clock::now();
  if (memory.tokens == 0) {  // an empty file has nothing to remember
    if (auto removed = store_->remove(path); !removed)
      return IndexRunError{"memory: " + removed.error().message};
    stored_.erase(path);
    return out;
  }
  // A tier of one file turns the keys and values into the stored blocks and
  // representatives; the store keeps them, not this process.
  model::memory::ExactTier tier(config_);
  tier.add_file(path, memory.keys, memory.values);
  const std::string hash = git_blob_id(contents);
  auto saved = model::memory::save_file(*store_, tier, path, {{"hash", hash}});
  if (!saved) return IndexRunError{"memory: " + saved.error().message};
  stored_[path] = hash;
  out.store_seconds = seconds_since(store_start);
  out.tokens = memory.tokens;
  return out;
}

model::Result<MemoryIndexer::FileUpdate, IndexRunError> MemoryIndexer::update_file(
    const std::string& path, std::string_view contents) {
  const auto start = Clock::now();
  auto known = stored();
  if (!known) return known.error();
  const auto it = known.value()->find(path);
  if (it != known.value()->end() && it->second == git_blob_id(contents)) return FileUpdate{};
  std::string model_failure;
  auto encoded = encode_and_store(path, contents, model_failure);
  if (!encoded) return encoded.error();
  if (!model_failure.empty()) return IndexRunError{"memory: " + path + ": " + model_failure};
  return FileUpdate{true, encoded.value().tokens, seconds_since(start)};
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

  auto known = stored();
  if (!known) return known.error();
  std::set<std::string> present;
  for (const WalkedFile& f : files) present.insert(f.path);
  std::vector<std::string> gone;
  for (const auto& [key, hash] : *known.value()) {
    if (present.count(key) == 0) gone.push_back(key);
  }
  for (const std::string& key : gone) {
    if (auto removed = store_->remove(key); !removed)
      return IndexRunError{"memory: " + removed.error().message};
    stored_.erase(key);
    ++report.files_removed;
  }

  IndexProgress state;
  state.stage = "memory";
  state.files_total = files.size();
  for (const WalkedFile& f : files) state.bytes_total += f.size;
  for (const WalkedFile& f : files) {
    state.current = f.path;
    state.seconds = seconds_since(start);
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
    if (const auto it = stored_.find(f.path);
        it != stored_.end() && it->second == git_blob_id(*contents)) {
      ++report.files_unchanged;
      continue;
    }
    std::string model_failure;
    auto encoded = encode_and_store(f.path, *contents, model_failure);
    if (!encoded) return encoded.error();
    if (!model_failure.empty()) {
      report.failed.push_back({f.path, model_failure});
      continue;
    }
    report.encode_seconds += encoded.value().encode_seconds;
    report.store_seconds += encoded.value().store_seconds;
    ++report.files_encoded;
    report.tokens_encoded += encoded.value().tokens;
    state.tokens_done = report.tokens_encoded;
  }
  state.current.clear();
  state.seconds = seconds_since(start);
  if (progress) progress(state);
  report.total_seconds = seconds_since(start);
  return report;
}

}  // namespace mnemo::indexer
