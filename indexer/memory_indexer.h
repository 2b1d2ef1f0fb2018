// Keeps a repository's long-term memory on disk up to date: every walked
// file's tokens through the model (memory_encoder.h), one segment per file in a MemoryStore
// (model/memory/exact/exact_tier_store.h), headers first. Each segment records the git blob
// id of the contents it was made from, so a run encodes only new and changed files, deletes
// the segments of files that are gone, and a killed run loses at most the file in flight.
//
// The memory belongs to one model and one layout: the store's header names the model, its
// memory layers, window and the tier's geometry, and a memory made otherwise is started
// over (it is derived data).
#pragma once

#include <map>

#include "indexer/memory_content.h"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "indexer/memory_encoder.h"
#include "indexer/repository_indexer.h"
#include "model/memory/continuous/continuous_signal.h"
#include "model/memory/exact/exact_tier.h"
#include "model/memory/exact/exact_tier_store.h"
#include "model/memory/store/memory_store.h"
#include "model/model_loader.h"

namespace mnemo::indexer {

struct MemoryIndexOptions {
  /// The memory's places in an index folder: <index>/memory and <index>/continuous.
  static MemoryIndexOptions in_index(const std::filesystem::path& index_dir) {
    MemoryIndexOptions o;
    o.store_dir = index_dir / "memory";
    o.continuous_dir = index_dir / "continuous";
    return o;
  }

  std::filesystem::path store_dir;  ///< e.g. <index dir>/memory
  std::vector<std::size_t> layers;  ///< the model's memory layers; empty: the defaults
  std::size_t window = 1024, chunk = 256;
  model::memory::ExactStorage storage = model::memory::ExactStorage::kFloat16;
  std::int64_t block_size = 64;
  /// How the memory is read, not how it is stored (a store made with other values serves):
  /// blocks retrieved per query head, and the bytes of token blocks kept in RAM (0: all).
  std::int64_t top_k = 8;
  std::uint64_t budget_bytes = 0;
  /// Keep every token's final state and successor for the next-token read (ExactTierConfig::
  /// next_token_dim): E fp16 numbers and 4 bytes more per token (512 + 4 for the built-in
  /// model, doubling its memory).
  bool next_token = true;
  bool durable = true;  ///< fsync each segment (off only for tests and benchmarks)
  /// Which files the memory reads (memory_content.h): code and its documentation, with the
  /// repository's overrides.
  ContentRules content;
  /// The continuous tier's signals, one segment per memory layer (a MemoryStore of their
  /// own); empty: not kept. Every file encoded by update() is folded in, in the run's order
  /// (headers first), so a changed file is folded in again and its old version fades as the
  /// axis contracts: the signal is a stream, not a set. Unsaved text (update_file) is not
  /// folded in: a pause every few seconds would flood it with drafts.
  std::filesystem::path continuous_dir;
  model::memory::continuous::ContinuousOptions continuous = continuous_defaults();

  /// Each token gets the same share of the time axis (clamped), rather than each file the
  /// same contraction: with a fixed tau the first of a thousand files would fade to nothing.
  static model::memory::continuous::ContinuousOptions continuous_defaults() {
    model::memory::continuous::ContinuousOptions o;
    o.tau_by_tokens = true;
    return o;
  }
};

struct MemoryIndexReport {
  std::size_t files_total = 0;  ///< files the walk listed
  std::size_t files_encoded = 0, files_unchanged = 0, files_removed = 0;
  std::vector<FailedFile> failed;
  /// Files the walk listed that the memory does not read (data, generated, ...), by reason.
  std::map<std::string, std::size_t> left_out;
  std::int64_t tokens_encoded = 0;
  bool recreated = false;  ///< the store was of another model or layout: started over
  bool cancelled = false;
  double encode_seconds = 0, store_seconds = 0, total_seconds = 0;
};

/// Thread-safety: one thread at a time (the store itself is thread-safe; the encoder's
/// buffers and the stored-hash cache are not).
class MemoryIndexer {
 public:
  /// Opens the memory in options.store_dir, or creates it. `model_id` names the model in
  /// the store's header (e.g. its file name and size).
  static model::Result<std::unique_ptr<MemoryIndexer>, IndexRunError> open(
      model::LoadedModel model, const std::string& model_id, const MemoryIndexOptions& options);

  /// Brings the memory up to date with `files` (relative to `root`, as the walk lists them).
  /// `progress` is called before each file; once `*cancel` is set no further file starts.
  model::Result<MemoryIndexReport, IndexRunError> update(
      const std::filesystem::path& root, const std::vector<WalkedFile>& files,
      const std::function<void(const IndexProgress&)>& progress = {},
      const std::atomic<bool>* cancel = nullptr);

  struct FileUpdate {
    bool encoded = false;  ///< false: the segment was already made from these contents
    std::int64_t tokens = 0;
    /// Tokens the model read: all of them, or, for a file whose earlier text this indexer
    /// encoded recently, those from the window of the first changed token on.
    std::int64_t tokens_read = 0;
    double seconds = 0;
  };
  /// Brings one file's segment up to date with `contents`, e.g. an editor's unsaved text
  /// (`path` relative to the root, as the walk names it): encoded and stored unless its
  /// segment was made from the same contents; empty contents remove the segment. The last
  /// kDrafts files' encodings are kept, so that typing in one file re-reads only the
  /// windows from the edit on (MemoryEncoder::reencode_tokens). Fails when the model
  /// cannot take the text or the store cannot be written.
  model::Result<FileUpdate, IndexRunError> update_file(const std::string& path,
                                                       std::string_view contents);

  const model::memory::ExactTierConfig& tier_config() const { return config_; }
  /// The stored memory as a tier, what a reader in this process starts from (the store's
  /// lock is this indexer's): its files' small tensors checked, their token blocks waiting
  /// in `pending` for model::memory::admit_pending() (segments that fail either check are
  /// left out), so that a reader can start before one pass over every stored byte.
  model::Result<model::memory::LoadedTier, IndexRunError> load_tier();
  /// Files whose stored segment failed a check after its header passed (load_tier,
  /// admit_pending): the next update() encodes them again, whatever their hash says.
  std::optional<IndexRunError> reindex(
      const std::vector<model::memory::store::SegmentProblem>& problems);
  /// Keeps `tier` (from load_tier()) equal to the store from now on: every file this
  /// indexer writes or removes is added or removed there too, under `lock`, which the
  /// tier's readers hold while they read. Null: none.
  void mirror_into(model::memory::ExactTier* tier, std::mutex* lock) {
    mirror_ = tier;
    mirror_lock_ = lock;
  }
  /// The model layers the memory is read at (the encoder's).
  const std::vector<std::size_t>& memory_layers() const { return encoder_->memory_layers(); }
  /// The continuous tier's signal of each memory layer (empty without continuous_dir).
  const std::vector<model::memory::continuous::ContinuousSignal>& continuous_signals() const {
    return signals_;
  }
  model::memory::store::MemoryStore& store() { return *store_; }

 private:
  MemoryIndexer() = default;
  /// The stored files and the hashes they were made from, read from the store's segment
  /// headers on first use and kept current by every write.
  model::Result<const std::map<std::string, std::string>*, IndexRunError> stored();
  /// stored_ from the store's loaded segments and its refused ones (no hash: made again).
  void know_stored(
      const std::vector<std::shared_ptr<const model::memory::store::LoadedSegment>>& segments,
      const std::vector<model::memory::store::SegmentProblem>& problems);
  struct Encoded {
    std::int64_t tokens = 0;
    double store_seconds = 0;
  };
  /// Deletes `path`'s segment from the store, the hash cache and the mirror.
  std::optional<IndexRunError> remove_segment(const std::string& path);
  /// Replaces `path`'s segment with `memory`, the encoding of `contents` (removes it for a
  /// file without tokens), and folds it into the continuous tier when asked.
  model::Result<Encoded, IndexRunError> store_encoded(const std::string& path,
                                                      std::string_view contents,
                                                      const FileMemory& memory,
                                                      bool fold_into_continuous);
  /// Opens (or makes anew) the continuous tier's store and restores its signals.
  std::optional<IndexRunError> open_continuous(const MemoryIndexOptions& options,
                                               const model::memory::store::StringMap& fields,
                                               std::int64_t dim);
  std::optional<IndexRunError> save_continuous();

  std::unique_ptr<MemoryEncoder> encoder_;
  model::memory::ExactTierConfig config_;
  ContentRules content_;
  std::unique_ptr<model::memory::store::MemoryStore> store_;
  model::memory::ExactTier* mirror_ = nullptr;
  std::mutex* mirror_lock_ = nullptr;
  bool recreated_ = false;
  bool stored_loaded_ = false;
  /// file -> hash of its segment ("" for a segment without one or with a problem).
  std::map<std::string, std::string> stored_;
  /// Recent unsaved texts and their encodings, most recent first (about 8 KB per token
  /// for SmolLM2-135M's two memory layers, so few).
  struct Draft {
    std::string path;
    model::Tokens tokens;
    FileMemory memory;
  };
  static constexpr std::size_t kDrafts = 4;
  std::list<Draft> drafts_;
  std::unique_ptr<model::memory::store::MemoryStore> continuous_store_;
  std::vector<model::memory::continuous::ContinuousSignal> signals_;
  bool continuous_changed_ = false;  ///< folded in since the last save
};

}  // namespace mnemo::indexer
