#include "indexer/memory_indexer.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <chrono>
#include <map>
#include <set>
#include <stdexcept>
#include <utility>

#include "indexer/content_hash.h"
#include "indexer/file_pass.h"
#include "indexer/repository_memory.h"
#include "model/memory/exact/exact_tier_store.h"

namespace mnemo::indexer {
namespace fs = std::filesystem;
namespace store = model::memory::store;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

model::Result<std::unique_ptr<MemoryIndexer>, IndexRunError> MemoryIndexer::open(
    model::LoadedModel model, const std::string& model_id, const MemoryIndexOptions& options) {
  if (!model.transformer || !model.tokenizer) return IndexRunError{"memory: no model"};
  std::unique_ptr<MemoryIndexer> indexer(new MemoryIndexer);
  const MemoryLayout layout = memory_layout(model.transformer->config(), model_id, options);
  try {
    indexer->encoder_ = std::make_unique<MemoryEncoder>(
        model.transformer, model.tokenizer, layout.layers, options.window, options.chunk,
        layout.tier.next_token_dim > 0);
  } catch (const std::invalid_argument& e) {
    return IndexRunError{std::string("memory: ") + e.what()};
  }
  indexer->config_ = layout.tier;
  indexer->content_ = options.content;
  const store::StringMap& fields = layout.fields;
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
  if (!options.continuous_dir.empty()) {
    if (auto error = indexer->open_continuous(
            options, fields, static_cast<std::int64_t>(model.transformer->config().n_embd))) {
      return *error;
    }
  }
  return indexer;
}

namespace {

std::string layer_key(std::size_t i) {
  return "layer-" + std::to_string(i);
}

std::string joined_doubles(const std::vector<double>& values) {
  std::string out;
  for (const double v : values) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

}  // namespace

std::optional<IndexRunError> MemoryIndexer::open_continuous(const MemoryIndexOptions& options,
                                                            const store::StringMap& memory_fields,
                                                            std::int64_t dim) {
  namespace cont = model::memory::continuous;
  const cont::ContinuousOptions& o = options.continuous;
  // The exact memory's fields (model, layers, window) and the signal's settings: a signal
  // made otherwise is made anew, like the memory.
  store::StringMap fields = memory_fields;
  fields["continuous.dim"] = std::to_string(dim);
  fields["continuous.n_basis"] = std::to_string(o.n_basis);
  fields["continuous.widths"] = joined_doubles(o.widths);
  fields["continuous.ridge_lambda"] = std::to_string(o.ridge_lambda);
  fields["continuous.tau"] =
      o.tau_by_tokens ? "by tokens " + std::to_string(o.tau_min) + "-" + std::to_string(o.tau_max)
                      : std::to_string(o.tau);
  fields["continuous.samples"] = std::to_string(o.n_samples) + (o.sticky ? " sticky " : " ") +
                                 std::to_string(o.sticky_uniform);
  fields["continuous.histogram_bins"] = std::to_string(o.n_histogram_bins);
  const store::StoreOptions store_options{options.durable};
  auto opened = store::MemoryStore::open(options.continuous_dir, fields, store_options);
  bool fresh = recreated_;
  if (!opened) {
    const auto kind = opened.error().kind;
    if (kind != store::StoreError::Kind::kNotFound && kind != store::StoreError::Kind::kMismatch &&
        kind != store::StoreError::Kind::kCorrupt) {
      return IndexRunError{"continuous memory: " + opened.error().message};
    }
    fresh = true;
  }
  if (fresh) {  // none yet, another model or settings, or the exact memory was made anew
    opened = store::MemoryStore::create(options.continuous_dir, fields, store_options);
    if (!opened) return IndexRunError{"continuous memory: " + opened.error().message};
  }
  continuous_store_ = std::move(opened).value();
  try {
    for (std::size_t i = 0; i < encoder_->memory_layers().size(); ++i)
      signals_.emplace_back(o, dim);
  } catch (const std::invalid_argument& e) {
    return IndexRunError{std::string("continuous memory: ") + e.what()};
  }
  auto loaded = continuous_store_->load({{}, /*verify_all=*/true});
  if (!loaded) return IndexRunError{"continuous memory: " + loaded.error().message};
  // A layer whose segment is missing or damaged starts empty; the others are kept.
  for (const auto& segment : loaded.value().segments) {
    for (std::size_t i = 0; i < signals_.size(); ++i) {
      if (segment->key() != layer_key(i)) continue;
      auto coefficients = segment->tensor("coefficients");
      auto tokens = segment->tensor("tokens");
      auto histogram = segment->tensor("histogram");
      if (!coefficients || !tokens || !histogram || tokens.value().numel() != 1) continue;
      try {
        const at::Tensor mass = histogram.value().to(at::kDouble).contiguous();
        const double* m = mass.data_ptr<double>();
        signals_[i].restore(coefficients.value(), tokens.value().item<std::int64_t>(),
                            std::vector<double>(m, m + mass.numel()));
      } catch (const std::exception&) {  // shapes of other settings: start this layer afresh
        signals_[i] = cont::ContinuousSignal(o, dim);
      }
    }
  }
  return std::nullopt;
}

std::optional<IndexRunError> MemoryIndexer::save_continuous() {
  if (!continuous_store_ || !continuous_changed_) return std::nullopt;
  for (std::size_t i = 0; i < signals_.size(); ++i) {
    const auto& signal = signals_[i];
    const std::vector<double>& mass = signal.histogram().mass();
    std::map<std::string, at::Tensor> tensors{{"coefficients", signal.coefficients()},
                                              {"tokens", at::tensor({signal.tokens()}, at::kLong)},
                                              {"histogram", at::tensor(mass, at::kDouble)}};
    auto saved = continuous_store_->put(layer_key(i), tensors, {});
    if (!saved) return IndexRunError{"continuous memory: " + saved.error().message};
  }
  continuous_changed_ = false;
  return std::nullopt;
}

model::Result<const std::map<std::string, std::string>*, IndexRunError> MemoryIndexer::stored() {
  if (stored_loaded_) return &stored_;
  // The segments' headers only: load() checks and maps, the tensors stay unread. A segment
  // with a problem keeps no hash, so it is simply made again.
  auto loaded = store_->load();
  if (!loaded) return IndexRunError{"memory: " + loaded.error().message};
  know_stored(loaded.value().segments, loaded.value().problems);
  return &stored_;
}

void MemoryIndexer::know_stored(
    const std::vector<std::shared_ptr<const store::LoadedSegment>>& segments,
    const std::vector<store::SegmentProblem>& problems) {
  stored_.clear();
  for (const auto& segment : segments) {
    const auto& metadata = segment->metadata();
    const auto it = metadata.find("hash");
    stored_[segment->key()] = it != metadata.end() ? it->second : "";
  }
  for (const store::SegmentProblem& problem : problems) {
    if (!problem.file_key.empty()) stored_[problem.file_key] = "";
  }
  stored_loaded_ = true;
}

std::optional<IndexRunError> MemoryIndexer::remove_segment(const std::string& path) {
  if (auto removed = store_->remove(path); !removed)
    return IndexRunError{"memory: " + removed.error().message};
  stored_.erase(path);
  if (mirror_ != nullptr) {
    const std::lock_guard<std::mutex> lock(*mirror_lock_);
    mirror_->remove_file(path);
  }
  return std::nullopt;
}

model::Result<MemoryIndexer::Encoded, IndexRunError> MemoryIndexer::store_encoded(
    const std::string& path, std::string_view contents, const FileMemory& memory,
    bool fold_into_continuous) {
  Encoded out;
  const auto store_start = Clock::now();
  if (memory.tokens == 0) {  // an empty file has nothing to remember
    if (auto error = remove_segment(path)) return *error;
    return out;
  }
  // A tier of one file turns the keys and values into the stored blocks and
  // representatives; the store keeps them, not this process.
  model::memory::ExactTier tier(config_);
  tier.add_file(path, memory.keys, memory.values, memory.states, memory.next);
  const std::string hash = git_blob_id(contents);
  auto saved = model::memory::save_file(*store_, tier, path, {{"hash", hash}});
  if (!saved) return IndexRunError{"memory: " + saved.error().message};
  stored_[path] = hash;
  if (mirror_ != nullptr) {
    const std::lock_guard<std::mutex> lock(*mirror_lock_);
    mirror_->remove_file(path);
    mirror_->add_file_from_tensors(path, tier.file_tensors(path));
  }
  if (fold_into_continuous && !signals_.empty()) {
    // A file takes (1 - tau) of the signal's axis, about one RBF width once the memory is
    // large, so the fit cannot hold more than a few points' detail of it: the inputs are
    // averaged over consecutive groups down to kFoldRows rows (the fit's cost is linear in
    // them; 8,192 rows made it half the model's time on boost/beast). The signal counts the
    // tokens, not the rows.
    constexpr std::int64_t kFoldRows = 256;
    for (std::size_t i = 0; i < signals_.size(); ++i) {
      const at::Tensor x = memory.inputs[static_cast<std::int64_t>(i)];  // [T, E]
      const at::Tensor pooled =
          memory.tokens <= kFoldRows
              ? x
              : at::adaptive_avg_pool1d(x.t().unsqueeze(0), {kFoldRows}).squeeze(0).t();
      signals_[i].append(pooled, memory.tokens);
    }
    continuous_changed_ = true;
  }
  out.store_seconds = seconds_since(store_start);
  out.tokens = memory.tokens;
  return out;
}

model::Result<model::memory::LoadedTier, IndexRunError> MemoryIndexer::load_tier() {
  model::memory::LoadTierOptions options;
  options.token_check = model::memory::LoadTierOptions::TokenCheck::kDeferred;
  auto loaded = model::memory::load_tier(*store_, config_, options);
  if (!loaded) return IndexRunError{"memory: " + loaded.error().message};
  // Deferred, every segment that passed is pending: what is stored is known without a second
  // load of the store.
  know_stored(loaded.value().pending, loaded.value().to_reindex);
  return std::move(loaded).value();
}

std::optional<IndexRunError> MemoryIndexer::reindex(
    const std::vector<store::SegmentProblem>& problems) {
  auto known = stored();
  if (!known) return known.error();
  for (const store::SegmentProblem& problem : problems)
    if (!problem.file_key.empty()) stored_[problem.file_key] = "";
  return std::nullopt;
}

model::Result<MemoryIndexer::FileUpdate, IndexRunError> MemoryIndexer::update_file(
    const std::string& path, std::string_view contents) {
  const auto start = Clock::now();
  auto known = stored();
  if (!known) return known.error();
  const auto it = known.value()->find(path);
  if (it != known.value()->end() && it->second == git_blob_id(contents)) return FileUpdate{};
  FileUpdate update;
  if (!classify_for_memory(path, contents, content_).keep) {  // data: not the memory's
    if (it != known.value()->end())
      if (auto error = remove_segment(path)) return *error;
    return update;
  }
  Draft draft;
  try {
    draft.tokens = encoder_->tokenize(memory_text(contents));
    const auto cached = std::find_if(drafts_.begin(), drafts_.end(),
                                     [&](const Draft& d) { return d.path == path; });
    if (cached != drafts_.end()) {
      draft.memory = encoder_->reencode_tokens(draft.tokens, cached->tokens, cached->memory);
      drafts_.erase(cached);
    } else {
      draft.memory = encoder_->encode_tokens(draft.tokens);
    }
  } catch (const std::exception& e) {  // c10::Error included: a text the model cannot take
    return IndexRunError{"memory: " + path + ": the model failed on it: " + e.what()};
  }
  auto stored = store_encoded(path, contents, draft.memory, /*fold_into_continuous=*/false);
  if (!stored) return stored.error();
  update.encoded = true;
  update.tokens = draft.memory.tokens;
  update.tokens_read = draft.memory.tokens_read;
  draft.path = path;
  drafts_.push_front(std::move(draft));
  if (drafts_.size() > kDrafts) drafts_.pop_back();
  update.seconds = seconds_since(start);
  return update;
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
    if (auto error = remove_segment(key)) return *error;
    ++report.files_removed;
  }

  auto pass = for_each_file(
      root, files, "memory", start, progress, cancel, report.failed,
      [&](const WalkedFile& f, std::string& contents,
          IndexProgress& state) -> std::optional<IndexRunError> {
        const ContentDecision decision = classify_for_memory(f.path, contents, content_);
        if (!decision.keep) {
          ++report.left_out[decision.reason];
          if (stored_.count(f.path) != 0) {  // read under another rule: it goes
            if (auto error = remove_segment(f.path)) return error;
            ++report.files_removed;
          }
          return std::nullopt;
        }
        if (const auto it = stored_.find(f.path);
            it != stored_.end() && it->second == git_blob_id(contents)) {
          ++report.files_unchanged;
          return std::nullopt;
        }
        const auto encode_start = Clock::now();
        FileMemory memory;
        try {
          memory = encoder_->encode(memory_text(contents));
        } catch (const std::exception& e) {  // c10::Error included: a file the model cannot take
          report.failed.push_back({f.path, std::string("the model failed on it: ") + e.what()});
          return std::nullopt;
        }
        report.encode_seconds += seconds_since(encode_start);
        auto encoded = store_encoded(f.path, contents, memory, /*fold_into_continuous=*/true);
        if (!encoded) return encoded.error();
        report.store_seconds += encoded.value().store_seconds;
        ++report.files_encoded;
        report.tokens_encoded += encoded.value().tokens;
        state.tokens_done = report.tokens_encoded;
        return std::nullopt;
      });
  if (!pass) {
    (void)save_continuous();  // what was folded in matches the segments already stored
    return pass.error();
  }
  report.cancelled = pass.value().cancelled;
  if (auto error = save_continuous()) return *error;
  IndexProgress state = pass.value().state;
  state.seconds = seconds_since(start);
  if (progress) progress(state);
  report.total_seconds = seconds_since(start);
  return report;
}

}  // namespace mnemo::indexer
