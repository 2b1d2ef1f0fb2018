// Which files of a repository the indexer reads.
//
// Inside a git work tree git decides what is ignored, through libgit2: the .gitignore files
// at every level, .git/info/exclude and the user's core.excludesFile, exactly as `git
// status` would. Outside one, a default list of dependency and build folders is skipped.
// Either way the configured vendored/generated folders are never entered, and binary files
// (a NUL byte in the first 8000 bytes: git's own test), files over the size limit, and
// symbolic links that lead outside the root are skipped and reported.
//
// Symbolic links are never followed: one that leads inside the root names a file or folder
// the walk reaches at its own path anyway (git, too, stores the link, not its target's
// contents), one that leads outside is not the repository's. So a link to an ancestor
// cannot loop and no file is read twice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model/result.h"

namespace mnemo::indexer {

struct WalkOptions {
  std::uintmax_t max_file_bytes = 1u << 20;  ///< larger files are data or generated
  /// Folder names never entered, at any depth: vendored and generated code.
  std::vector<std::string> skipped_folders = {"third_party", "vendor", "node_modules", ".mnemo"};
  /// Outside git only: folders skipped as a .gitignore would (build output, caches), besides
  /// hidden ones. A trailing '*' matches any rest of the name.
  std::vector<std::string> default_ignored_folders = {"build", "build-*", "cmake-build-*", "out",
                                                      "dist",  "target",  "__pycache__"};
  std::size_t binary_probe_bytes = 8000;
};

enum class SkipReason {
  kIgnored,          ///< git ignores it, or the default list outside git
  kSkippedFolder,    ///< a configured vendored/generated folder
  kBinary,           ///< a NUL byte near the start
  kTooLarge,         ///< over max_file_bytes
  kLinkInsideRoot,   ///< a symbolic link to a path under the root (walked there)
  kLinkOutsideRoot,  ///< a symbolic link that leads outside the root, or nowhere
  kUnreadable,       ///< permission denied, vanished meanwhile
  kNotRegular,       ///< a socket, FIFO or device
};

const char* to_string(SkipReason reason);

struct WalkedFile {
  std::string path;  ///< relative to the root, '/'-separated
  std::uintmax_t size = 0;
};

struct SkippedPath {
  std::string path;  ///< relative to the root; an ignored folder is listed, not its files
  SkipReason reason;
};

struct WalkResult {
  bool in_git = false;               ///< the root is inside a git work tree
  std::vector<WalkedFile> files;     ///< sorted by path
  std::vector<SkippedPath> skipped;  ///< sorted by path
};

struct WalkError {
  std::string message;
};

/// A listed file's bytes, as they are; nothing when it cannot be read (gone meanwhile).
std::optional<std::string> read_file_contents(const std::filesystem::path& path);

/// The files under `root` worth indexing. Fails only when the root is not a readable
/// directory or git's ignore rules cannot be read; everything else is reported in
/// WalkResult::skipped.
model::Result<WalkResult, WalkError> walk_repository(const std::filesystem::path& root,
                                                     const WalkOptions& options = {});

}  // namespace mnemo::indexer
