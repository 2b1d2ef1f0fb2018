// One segment of a loaded memory: a read-only mmap of the file, its parsed header, and its
// tensors as at::Tensor views over the mapping. A tensor's bytes are checksummed the first
// time it is asked for (or at load time when the caller names it eager), so a corrupted
// byte is caught before it is used while loading never reads the token blocks.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/memory/store/segment_format.h"
#include "model/memory/store/store_error.h"
#include "model/result.h"

namespace mnemo::model::memory::store {

/// Immutable after open() except for the verification flags; every method is thread-safe.
/// The mapping lives as long as the segment or any tensor it returned: a later put() or
/// remove() of the same key replaces or unlinks the file, never changes it in place, so
/// the views stay valid and show the old contents.
class LoadedSegment {
 public:
  /// Maps `path` and checks its ident, size and header (not the tensor bytes, except those
  /// named in `eager`, or all when `verify_all`). `memory_id` is the memory header's.
  static Result<std::shared_ptr<LoadedSegment>, SegmentProblem> open(
      const std::filesystem::path& path, std::uint64_t memory_id,
      const std::set<std::string>& eager, bool verify_all);

  ~LoadedSegment();
  LoadedSegment(const LoadedSegment&) = delete;
  LoadedSegment& operator=(const LoadedSegment&) = delete;

  const std::string& key() const { return layout_.ident.key; }
  const std::string& file_name() const { return file_name_; }
  const std::map<std::string, std::string>& metadata() const { return layout_.metadata; }
  /// Name, dtype, shape and size of each tensor, in file order; reads no tensor bytes.
  const std::vector<SegmentTensor>& tensors() const { return layout_.tensors; }
  std::size_t file_bytes() const { return size_; }

  /// The named tensor as a read-only view over the mapping (writing to it faults: clone()
  /// first). Its bytes are checksummed on the first call; a mismatch marks the whole
  /// segment corrupt, and from then on every tensor() fails with kCorrupt: the caller
  /// drops this file's memory (tensors it already holds included) and re-indexes it.
  Result<at::Tensor, StoreError> tensor(const std::string& name) const;

  /// Checksums every tensor not yet verified (what a background verifier calls).
  Result<void, StoreError> verify() const;

  /// True once any check failed.
  bool corrupt() const { return corrupt_.load(std::memory_order_acquire); }

 private:
  struct Mapping;
  enum : std::uint8_t { kUnverified = 0, kGood = 1, kBad = 2 };

  LoadedSegment() = default;
  /// Checksums tensor `index` once; the first answer is kept.
  Result<void, StoreError> verify_tensor(std::size_t index) const;
  /// verify_tensor of each, their pages asked for first (prefetch).
  Result<void, StoreError> verify_tensors(const std::vector<std::size_t>& indices) const;
  /// Asks the kernel to read tensor `index`'s pages now (MADV_WILLNEED), in large requests.
  void prefetch(std::size_t index) const;
  StoreError corrupt_error(const std::string& what) const;

  std::shared_ptr<const Mapping> mapping_;
  const std::uint8_t* base_ = nullptr;
  std::size_t size_ = 0;
  std::string file_name_;
  SegmentLayout layout_;
  /// One flag per tensor: kUnverified, kGood or kBad. Two threads may verify one tensor at
  /// once; both compute the same answer.
  std::unique_ptr<std::atomic<std::uint8_t>[]> verified_;
  mutable std::atomic<bool> corrupt_{false};
};

}  // namespace mnemo::model::memory::store
