// The memory's pass over a repository's files (memory_indexer.h): in order, progress before
// each file, no new file once the run is cancelled, and an unreadable file reported rather
// than fatal. (The symbols' run orders its parses itself: repository_indexer.h.)
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "indexer/repository_indexer.h"

namespace mnemo::indexer {

/// What a file's step may end the pass with (a store that cannot be written).
using FileStep = std::function<std::optional<IndexRunError>(
    const WalkedFile& file, std::string& contents, IndexProgress& state)>;

struct FilePass {
  IndexProgress state;  ///< as last reported; `current` is empty once the pass ended
  bool cancelled = false;
};

/// Runs `step` on the readable `files` (relative to `root`). `progress` (may be empty) gets
/// the `stage`'s state before each file, its clock counting from `start`; the caller reports
/// the end itself (it may have work in flight). Unreadable files go to `failed`. Returns
/// the first error a step gave, which ends the pass.
model::Result<FilePass, IndexRunError> for_each_file(
    const std::filesystem::path& root, const std::vector<WalkedFile>& files, std::string stage,
    std::chrono::steady_clock::time_point start,
    const std::function<void(const IndexProgress&)>& progress, const std::atomic<bool>* cancel,
    std::vector<FailedFile>& failed, const FileStep& step);

}  // namespace mnemo::indexer
