// Which files of a workspace are worth reading for identifiers, and reading them safely.
//
// The walk must stay cheap and bounded on real checkouts: it never follows symlinks (a
// link back to an ancestor would loop forever), skips VCS metadata, dependency and build
// output directories (their names would drown the project's own), and reads only source
// and text files that are small and not binary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lsp/cancellation.h"

namespace mnemo::server {

struct WorkspaceScanLimits {
  std::size_t max_files = 100'000;
  std::uintmax_t max_file_bytes = 1u << 20;   // 1 MiB; larger files are generated or data
  std::size_t binary_probe_bytes = 8 * 1024;  // a NUL byte in this head marks a binary
};

/// Hidden directories (`.git`, `.cache`), `node_modules`, `build*`, `out`, `dist`,
/// `target` and `__pycache__`.
bool is_skipped_directory(std::string_view name);
/// Source and text extensions (c, cc, cpp, h, py, rs, go, ts, md, json, ...), compared
/// case-insensitively.
bool is_indexable_file(const std::filesystem::path& path);

/// The indexable files under `roots` (a root may also be a single file), each once, at
/// most `limits.max_files`. Unreadable directories are skipped. Polls `token` while
/// walking and returns nullopt once it is cancelled.
std::optional<std::vector<std::filesystem::path>> collect_workspace_files(
    const std::vector<std::filesystem::path>& roots, const WorkspaceScanLimits& limits,
    const lsp::CancellationToken& token);

/// The contents of `path`, or nullopt when it cannot be read, is larger than
/// `limits.max_file_bytes` or looks binary.
std::optional<std::string> read_source_file(const std::filesystem::path& path,
                                            const WorkspaceScanLimits& limits);

}  // namespace mnemo::server
