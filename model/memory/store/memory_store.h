// The long-term memory on disk (DESIGN.md §2): a directory that survives
// restarts so that a repository is indexed once, and a changed file costs one segment.
//
//   <dir>/memory.json        the header: format name and version, a random memory id, and
//                            the caller's fields (model id, block size, dtype, layer/head
//                            counts, ...); open() refuses any difference
//   <dir>/lock               flock'd by the one MemoryStore that has the directory open
//   <dir>/segments/<h>.seg   one per file key; <h> = 16 hex digits of a 64-bit hash of the key
//   <dir>/segments/*.tmp.*   a write in progress, or left by a crash: ignored, then deleted
//
// There is no index file: the segments are the index. Each segment names its own key in a
// checksummed ident (segment_format.h), and the file name follows from the key, so put()
// and remove() touch exactly one file, and no separate index can disagree with the
// segments or be lost in a crash. keys() reads the idents (a few bytes per file).
//
// Writes: a segment goes to a temporary file in segments/, is fsync'd, renamed over the
// old one, and the directory is fsync'd. A crash leaves the old segment or the new one,
// never a mix. Files are never changed in place, so mappings of a loaded memory stay valid.
//
// Loading and verification. load() maps every segment read-only and checks, eagerly, each
// segment's ident, size (truncation), header checksum and every range in its header. That
// reads a few hundred bytes per segment, so 20k segments load in well under a second. The
// tensor bytes (5 GB at 5M tokens; CRC-32C at ~8 GB/s would take most of a second on top of
// faulting the pages in) are checksummed lazily, per tensor, the first time
// LoadedSegment::tensor() hands that tensor out, and eagerly for the tensors the caller
// names in LoadOptions::eager (the small ones it keeps in RAM: representatives, scales,
// counts). Either way no tensor byte reaches the caller unverified; a failure marks the
// segment corrupt and the caller re-indexes that file. verify_segments() checksums the rest
// (from a background thread, say) so corruption also surfaces before retrieval needs it.
// Measured (memory_store_bench, 2 shared cores, warm page cache): 5M tokens = 5.2 GB in
// 20k segments load in 0.25-0.45 s, in 1k segments in 0.03-0.08 s; checksumming all of it
// takes 0.6-1.0 s. A cold page cache adds one random read per segment.
//
// Limits: one mapping per segment, and Linux allows 65530 per process by default
// (vm.max_map_count), so a memory of more than ~60k segments needs segments that hold
// several files, or a higher limit; past it, load() reports "cannot map" problems.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/memory/store/loaded_segment.h"
#include "model/memory/store/store_error.h"
#include "model/result.h"

namespace mnemo::model::memory::store {

inline constexpr const char* kMemoryFormatName = "mnemo-memory";
inline constexpr std::uint32_t kMemoryFormatVersion = 1;

using StringMap = std::map<std::string, std::string>;

struct StoreOptions {
  /// fsync files and the directory on every write. Turn off only for benchmarks and tests
  /// that build throw-away memories: a crash may then lose or truncate recent segments
  /// (load() still detects that).
  bool durable = true;
};

struct LoadOptions {
  /// Tensors checksummed during load() (e.g. {"representatives", "scales", "counts"}); a
  /// mismatch puts the segment among the problems instead of the segments.
  std::set<std::string> eager;
  /// Checksum every tensor during load() (slow for big memories; for tools and tests).
  bool verify_all = false;
  /// Threads that open segments (at most 16); 0: one per 256 segments, at most one per
  /// hardware thread.
  std::size_t threads = 0;
};

struct LoadedMemory {
  std::vector<std::shared_ptr<const LoadedSegment>> segments;  ///< sorted by key
  std::vector<SegmentProblem> problems;                        ///< never to be used
};

/// Checksums every tensor of `segments` not yet verified and returns the segments that
/// fail. Thread-safe with concurrent tensor() calls on the same segments.
std::vector<SegmentProblem> verify_segments(
    const std::vector<std::shared_ptr<const LoadedSegment>>& segments);

/// Thread-safety: every method may be called from any thread; mutations and load() take
/// one mutex. One MemoryStore per directory at a time, across processes (the lock file).
class MemoryStore {
 public:
  /// Makes `dir` (and parents) a new, empty memory with `fields`, replacing a memory that
  /// was there: the new header gets a new memory id first, so old segments that survive a
  /// crash during their deletion are refused by load().
  static Result<std::unique_ptr<MemoryStore>, StoreError> create(const std::filesystem::path& dir,
                                                                 const StringMap& fields,
                                                                 StoreOptions options = {});
  /// Opens an existing memory whose header has this format version and exactly the fields
  /// `expected` (kNotFound without a header, kMismatch naming the first difference,
  /// kCorrupt for an unreadable header). Deletes leftover temporary files.
  static Result<std::unique_ptr<MemoryStore>, StoreError> open(const std::filesystem::path& dir,
                                                               const StringMap& expected,
                                                               StoreOptions options = {});
  ~MemoryStore();
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  /// Writes (or replaces) `file_key`'s segment: named CPU tensors of any dtype
  /// segment_format.h knows (fp32/16, bf16, int8/16/32/64, uint8, bool, double), any shape,
  /// empty included; non-contiguous ones are made contiguous. Durable when it returns.
  Result<void, StoreError> put(const std::string& file_key,
                               const std::map<std::string, at::Tensor>& tensors,
                               const StringMap& metadata);
  /// Deletes `file_key`'s segment; false when it had none.
  Result<bool, StoreError> remove(const std::string& file_key);
  /// The keys whose segment names them (sorted); says nothing about their data: load()
  /// decides which segments are usable.
  Result<std::vector<std::string>, StoreError> keys() const;
  /// Maps and checks every segment (see the file comment). Fails only when the directory
  /// cannot be listed; bad segments are reported in LoadedMemory::problems.
  Result<LoadedMemory, StoreError> load(const LoadOptions& options = {}) const;

  const std::filesystem::path& dir() const { return dir_; }
  const StringMap& fields() const { return fields_; }
  std::uint64_t memory_id() const { return memory_id_; }

  /// "<16 hex digits>.seg": the segment file of `file_key`.
  static std::string segment_file_name(const std::string& file_key);

 private:
  MemoryStore() = default;
  static Result<std::unique_ptr<MemoryStore>, StoreError> lock(const std::filesystem::path& dir,
                                                               StoreOptions options);
  void remove_temporaries_locked() const;
  std::filesystem::path segments_dir() const { return dir_ / "segments"; }

  std::filesystem::path dir_;
  StoreOptions options_;
  StringMap fields_;
  std::uint64_t memory_id_ = 0;
  int lock_fd_ = -1;
  mutable std::mutex mutex_;  ///< guards the segment files against concurrent calls
  mutable std::uint64_t temp_counter_ = 0;
};

}  // namespace mnemo::model::memory::store
