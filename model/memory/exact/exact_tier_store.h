// The exact tier on disk: each file of an ExactTier is one segment of a
// MemoryStore (model/memory/store/memory_store.h), keyed by its file id and holding
// ExactTier::file_tensors(): n_tokens, the token blocks (keys, values, int8 scales) and the
// fp16 representatives. Loading maps the segments and hands the token blocks to the tier as
// views over the mappings (add_file_from_tensors shares CPU contiguous tensors), so nothing
// is copied except the representatives, which go into the tier's scoring buffers.
//
// Never using a corrupted byte. The store checksums a tensor the first time
// LoadedSegment::tensor() hands it out, but ExactTier reads the token blocks of whatever
// block top-k selects, long after the tensors were handed over, and has no hook to ask the
// store first. So every byte the tier holds must be verified *before* the file enters the
// tier. Two modes (LoadTierOptions::token_check), both sound:
//
//  - kAtLoad (default): load_tier checksums every tensor of every segment (the store's
//    verify_all, spread over its loading threads) before adding any file. The tier is
//    complete when load_tier returns; the cost is one pass over all token bytes.
//    Measured (memory_bench --store --no-fsync, 2 shared cores, warm page cache, 5M tokens
//    fp16 = 5.2 GB in 1222 segments, 2026-11-26): 0.52 s (0.38 s store load with checksums,
//    0.14 s handing the files to the tier in one add_files_from_tensors batch; adding them
//    one by one had cost about 0.5 s).
//  - kDeferred: load_tier checksums only the small tensors (n_tokens, representatives,
//    int8 scales) and returns the segments in LoadedTier::pending, not in the tier; the
//    caller runs admit_pending() (a background thread, say), which checksums each pending
//    segment's token blocks without any lock and adds the files under the caller's exclusive
//    lock once they pass. load_tier then returns after the header checks (32 ms at 5M
//    tokens, same run), and admit_pending takes 0.35 s; until it finishes, the files not
//    yet admitted are simply absent from the memory (answers as if they were not indexed
//    yet): never wrong, only incomplete for about the time of one checksum pass.
//
// A segment that fails any check, or that add_file_from_tensors refuses (std::invalid_argument:
// a missing tensor, a wrong shape or dtype), goes to `to_reindex` with the reason and is
// never added: the caller re-indexes that file from its source.
//
// What is not covered: a page that is evicted after verification and read back from a disk
// that silently corrupted it in between is not re-checked (the same holds for any file read).
//
// Resident memory. The token blocks of a loaded tier are file-backed shared mappings: they
// count in ExactTier::stats().token_bytes (the tier does not know where its tensors live)
// and in the process's RssFile as their pages are touched, but they are page cache, not
// anonymous memory: the kernel may evict them under pressure and re-read them on the next
// retrieval. Anonymous memory (RssAnon) is the tier's representative buffers only (fp16
// [L, Hkv, D] per block, twice for min/max: 8 bytes per token at L=2, Hkv=2, D=64, C=64;
// with next-token states also their means, fp32 [E + 1] per block: 16 bytes per token at
// E=256, plus the tier's capacity and any scoring copies: stats().representative_bytes); the int8
// scales are mapped like the blocks. Measured at 5M tokens fp16 (memory_bench --store): loading
// added 13.5 bytes/token RssAnon and 1033 bytes/token RssFile (all pages touched by the
// checksum pass). ExactTierConfig::budget_bytes counts the mapped token bytes too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "model/memory/exact/exact_tier.h"
#include "model/memory/store/memory_store.h"
#include "model/result.h"

namespace mnemo::model::memory {

/// The header fields that identify memories this configuration can load: layout version,
/// layers, heads, KV heads, head dim, block size, storage dtype, representative kind and the
/// RoPE parameters (top_k and budget_bytes are run-time choices and are not included). Pass
/// them to MemoryStore::create / open, so that a memory written for another configuration
/// is refused (StoreError::kMismatch). `extra` (e.g. a model id) is added as given.
store::StringMap store_fields(const ExactTierConfig& config, const store::StringMap& extra = {});

/// Writes `file_id`'s segment: tier.file_tensors(file_id) and `metadata` (the caller's: e.g.
/// the source path and content hash). Durable when it returns (unless the store is not).
/// kInvalidArgument when the tier does not hold the file's token blocks (absent, or dropped
/// by the budget: re-index it instead).
Result<void, store::StoreError> save_file(store::MemoryStore& memory_store, const ExactTier& tier,
                                          const std::string& file_id,
                                          const store::StringMap& metadata);

struct LoadTierOptions {
  enum class TokenCheck {
    kAtLoad,    ///< checksum every tensor before load_tier returns (the tier is complete)
    kDeferred,  ///< only the small tensors; token blocks verified by admit_pending()
  };
  TokenCheck token_check = TokenCheck::kAtLoad;
  /// Threads that open and checksum segments (0: the store's default, up to one per core).
  std::size_t threads = 0;
};

struct LoadTierStats {
  std::size_t segments = 0;        ///< segments the store returned (problems excluded)
  std::size_t files_added = 0;     ///< files in the tier when load_tier returns
  std::size_t files_pending = 0;   ///< kDeferred: files left to admit_pending()
  std::int64_t tokens = 0;         ///< tokens of the added and pending files
  std::uint64_t mapped_bytes = 0;  ///< bytes of the added and pending segment files
  double store_load_ms = 0;        ///< MemoryStore::load (headers and eager checksums)
  double adopt_ms = 0;             ///< handing the tensors to the tier
  double total_ms = 0;
};

struct LoadedTier {
  std::unique_ptr<ExactTier> tier;
  /// Segments refused by the store or by the tier: never used; re-index these files (an
  /// empty file_key means the segment's ident is unreadable: reconcile keys() with the
  /// repository).
  std::vector<store::SegmentProblem> to_reindex;
  /// kDeferred: the segments whose small tensors passed, to hand to admit_pending().
  std::vector<std::shared_ptr<const store::LoadedSegment>> pending;
  LoadTierStats stats;
};

/// Loads every segment of `memory_store` into a new ExactTier with `config` (which should
/// be the configuration whose store_fields() the store was opened with). The tier's
/// representative buffers are reserved for all the segments, so admit_pending() does not
/// regrow them. Fails only when the store cannot be listed.
Result<LoadedTier, store::StoreError> load_tier(const store::MemoryStore& memory_store,
                                                ExactTierConfig config,
                                                const LoadTierOptions& options = {});

/// kDeferred: checksums the token blocks of each pending segment (in `threads` threads, no
/// lock held) and adds the files that pass to `tier` in batches of up to 32 per thread,
/// holding `lock` exclusively only for each batch's add (the caller's attend() calls take
/// it, shared where it is a std::shared_mutex). A file the tier already contains
/// when its turn comes is skipped: the caller re-indexed it meanwhile, and its version wins.
/// (A file the caller *removed* meanwhile would come back: remove files after admission,
/// or remove them again.) Returns the segments that failed, to re-index.
/// Defined for std::mutex and std::shared_mutex.
template <typename Lock>
std::vector<store::SegmentProblem> admit_pending(
    ExactTier& tier, Lock& lock,
    const std::vector<std::shared_ptr<const store::LoadedSegment>>& pending,
    std::size_t threads = 0);

}  // namespace mnemo::model::memory
