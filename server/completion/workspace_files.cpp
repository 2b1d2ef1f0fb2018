// The workspace walk and file filters (see workspace_files.h for the rules).
#include "server/completion/workspace_files.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <system_error>
#include <unordered_set>

namespace mnemo::server {
namespace {

namespace fs = std::filesystem;

// How many directory entries the walk visits between polls of the cancellation token.
constexpr std::size_t kWalkPollInterval = 256;

}  // namespace

bool is_skipped_directory(std::string_view name) {
  if (name.empty()) return false;
  if (name.front() == '.') return true;
  if (name.substr(0, 5) == "build") return true;
  static constexpr std::array<std::string_view, 5> kSkipped = {"node_modules", "out", "dist",
                                                               "target", "__pycache__"};
  return std::find(kSkipped.begin(), kSkipped.end(), name) != kSkipped.end();
}

bool is_indexable_file(const fs::path& path) {
  static constexpr std::string_view kExtensions[] = {
      "c",     "cc",  "cpp", "cxx",  "c++",  "h",   "hh",   "hpp", "hxx", "inl",
      "ipp",   "tpp", "m",   "mm",   "cu",   "cuh", "py",   "js",  "mjs", "ts",
      "tsx",   "jsx", "rs",  "go",   "java", "kt",  "lua",  "rb",  "cs",  "swift",
      "cmake", "txt", "md",  "json", "yaml", "yml", "toml", "sh"};
  std::string extension = path.extension().string();
  if (extension.size() < 2) return false;  // no extension, or a bare "."
  extension.erase(0, 1);
  for (char& c : extension) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return std::find(std::begin(kExtensions), std::end(kExtensions), extension) !=
         std::end(kExtensions);
}

std::optional<std::vector<fs::path>> collect_workspace_files(const std::vector<fs::path>& roots,
                                                             const WorkspaceScanLimits& limits,
                                                             const lsp::CancellationToken& token) {
  std::vector<fs::path> files;
  std::unordered_set<std::string> seen;  // generic strings of `files`, for overlapping roots
  const auto add = [&](const fs::path& path) {
    fs::path normal = path.lexically_normal();
    if (seen.insert(normal.generic_string()).second) files.push_back(std::move(normal));
  };
  std::size_t visited = 0;
  for (const fs::path& root_arg : roots) {
    if (files.size() >= limits.max_files) break;
    std::error_code ec;
    const fs::path root = fs::absolute(root_arg, ec).lexically_normal();
    if (ec) continue;
    // A root is followed even when it is a link (a workspace opened through one); only
    // links found inside it are not.
    const fs::file_status status = fs::status(root, ec);
    if (ec) continue;
    if (fs::is_regular_file(status)) {
      if (is_indexable_file(root)) add(root);
      continue;
    }
    if (!fs::is_directory(status)) continue;
    // Without follow_directory_symlink the iterator never descends into a linked
    // directory; the loop below also skips links to files, so nothing outside the root
    // (or counted twice through a link) is read.
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    for (const fs::recursive_directory_iterator end; !ec && it != end; it.increment(ec)) {
      if (++visited % kWalkPollInterval == 0 && token.cancelled()) return std::nullopt;
      const fs::directory_entry& entry = *it;
      std::error_code entry_ec;
      if (entry.is_symlink(entry_ec) || entry_ec) continue;
      if (entry.is_directory(entry_ec)) {
        if (is_skipped_directory(entry.path().filename().string())) it.disable_recursion_pending();
        continue;
      }
      if (!entry.is_regular_file(entry_ec) || !is_indexable_file(entry.path())) continue;
      add(entry.path());
      if (files.size() >= limits.max_files) break;
    }
  }
  if (token.cancelled()) return std::nullopt;
  return files;
}

std::optional<std::string> read_source_file(const fs::path& path,
                                            const WorkspaceScanLimits& limits) {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec || size > limits.max_file_bytes) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text;
  text.reserve(static_cast<std::size_t>(size));
  text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  // The file may have grown since file_size(); the limit holds for what was read.
  if (text.size() > limits.max_file_bytes) return std::nullopt;
  const std::size_t probe = std::min(text.size(), limits.binary_probe_bytes);
  if (std::string_view(text).substr(0, probe).find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  return text;
}

}  // namespace mnemo::server
