// The workspace's identifier table: how often each name occurs in each file a workspace
// scan read, and in all of them together.
//
// Per-file counts are kept (not only totals) because open documents are counted from
// their live text: at query time the engine subtracts a file's on-disk counts when that
// file is open, so an edited file is neither counted twice nor counted stale. Names are
// interned once and files hold (name id, count) pairs, which keeps a 100,000-file table
// to a few bytes per distinct name per file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mnemo::server {

/// Immutable once built: thread-safe for any number of concurrent readers. Published by
/// the engine as a shared_ptr snapshot, replaced whole by the next scan.
class WorkspaceIdentifiers {
 public:
  using NameId = std::uint32_t;
  struct FileEntry {
    NameId name = 0;
    std::uint32_t count = 0;
  };

  std::size_t file_count() const { return files_.size(); }
  std::size_t name_count() const { return names_.size(); }
  std::string_view name(NameId id) const { return names_[id]; }
  /// Occurrences of `id` summed over every file read.
  std::uint64_t total(NameId id) const { return totals_[id]; }

  /// Counts of the file filed under `key` (see path_key()), or nullptr if it was not read.
  const std::vector<FileEntry>* file(const std::string& key) const;

  /// The id of `name`, if any file contains it.
  std::optional<NameId> find(std::string_view name) const;

  /// All ids by descending total(), ties by name: the ranking order of names known only
  /// from the workspace when nothing has been typed, so the best few are found without
  /// visiting every name.
  const std::vector<NameId>& by_frequency() const { return frequency_order_; }

  /// The ids of the names that start with `prefix`, ASCII case-insensitively, as a
  /// contiguous [first, last) range in case-folded order. An empty prefix gives all names.
  std::pair<const NameId*, const NameId*> names_with_prefix(std::string_view prefix) const;

 private:
  friend class WorkspaceIdentifiersBuilder;
  std::deque<std::string> storage_;  // the names; a deque so views into it stay valid
  std::unordered_map<std::string_view, NameId> ids_;
  std::vector<std::string_view> names_;  // by NameId
  std::vector<std::uint64_t> totals_;    // by NameId
  std::vector<NameId> folded_order_;     // all ids, sorted by case-folded name
  std::vector<NameId> frequency_order_;  // all ids, by descending total, then name
  std::unordered_map<std::string, std::vector<FileEntry>> files_;  // by path key
};

/// Accumulates files, then produces the immutable table. Not thread-safe: one scan owns it.
class WorkspaceIdentifiersBuilder {
 public:
  WorkspaceIdentifiersBuilder();

  /// Counts the identifiers of `text` under `key`; a key added before is ignored.
  void add_file(std::string key, std::string_view text);

  /// Sorts the name index and hands the table over; the builder is spent afterwards.
  std::shared_ptr<const WorkspaceIdentifiers> build() &&;

 private:
  std::unique_ptr<WorkspaceIdentifiers> table_;
};

}  // namespace mnemo::server
