#include "indexer/repository_walk.h"

#include <git2.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>

namespace mnemo::indexer {
namespace fs = std::filesystem;

const char* to_string(SkipReason reason) {
  switch (reason) {
    case SkipReason::kIgnored:
      return "ignored";
    case SkipReason::kSkippedFolder:
      return "skipped folder";
    case SkipReason::kBinary:
      return "binary";
    case SkipReason::kTooLarge:
      return "too large";
    case SkipReason::kLinkInsideRoot:
      return "link inside the root";
    case SkipReason::kLinkOutsideRoot:
      return "link outside the root";
    case SkipReason::kUnreadable:
      return "unreadable";
    case SkipReason::kNotRegular:
      return "not a regular file";
  }
  return "?";
}

namespace {

std::string git_message(const char* what) {
  const git_error* e = git_error_last();
  return std::string(what) + ": " + (e != nullptr && e->message != nullptr ? e->message : "?");
}

/// libgit2's global state, reference-counted by libgit2 itself.
struct GitLibrary {
  GitLibrary() { git_libgit2_init(); }
  ~GitLibrary() { git_libgit2_shutdown(); }
  GitLibrary(const GitLibrary&) = delete;
  GitLibrary& operator=(const GitLibrary&) = delete;
};

struct RepositoryDeleter {
  void operator()(git_repository* repo) const { git_repository_free(repo); }
};
using Repository = std::unique_ptr<git_repository, RepositoryDeleter>;

bool matches(const std::vector<std::string>& patterns, const std::string& name) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
    if (!p.empty() && p.back() == '*')
      return name.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0;
    return name == p;
  });
}

bool is_under(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

class Walker {
 public:
  Walker(fs::path root, const WalkOptions& options, git_repository* repo, std::string git_prefix)
      : root_(std::move(root)),
        options_(options),
        repo_(repo),
        git_prefix_(std::move(git_prefix)) {}

  model::Result<void, WalkError> run(WalkResult& out) {
    out_ = &out;
    if (auto ok = walk(root_, ""); !ok) return ok;
    auto by_path = [](const auto& a, const auto& b) { return a.path < b.path; };
    std::sort(out.files.begin(), out.files.end(), by_path);
    std::sort(out.skipped.begin(), out.skipped.end(), by_path);
    return model::success();
  }

 private:
  void skip(const std::string& rel, SkipReason reason) { out_->skipped.push_back({rel, reason}); }

  model::Result<bool, WalkError> ignored(const std::string& rel, const std::string& name,
                                         bool directory) const {
    if (repo_ == nullptr) {
      // Outside git: hidden and default build/cache folders, as a typical .gitignore would.
      return directory && (name.front() == '.' || matches(options_.default_ignored_folders, name));
    }
    int is_ignored = 0;
    const std::string path = git_prefix_ + rel + (directory ? "/" : "");
    if (git_ignore_path_is_ignored(&is_ignored, repo_, path.c_str()) != 0)
      return WalkError{git_message(("git ignore rules for " + rel).c_str())};
    return is_ignored == 1;
  }

  /// Whether the file starts like a binary: git's test (a NUL byte in the first 8000 bytes).
  static std::optional<bool> looks_binary(const fs::path& path, std::size_t probe) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::string head(probe, '\0');
    in.read(head.data(), static_cast<std::streamsize>(probe));
    if (in.bad()) return std::nullopt;
    head.resize(static_cast<std::size_t>(in.gcount()));
    return head.find('\0') != std::string::npos;
  }

  model::Result<void, WalkError> walk(const fs::path& dir, const std::string& rel_dir) {
    std::error_code ec;
    std::vector<std::string> names;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      names.push_back(it->path().filename().string());
    if (ec) {
      if (rel_dir.empty()) return WalkError{"cannot list " + dir.string() + ": " + ec.message()};
      skip(rel_dir, SkipReason::kUnreadable);
      return model::success();
    }
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      if (name == ".git") continue;  // git's own data, never a source
      const fs::path abs = dir / name;
      const std::string rel = rel_dir.empty() ? name : rel_dir + "/" + name;
      struct stat st {};
      if (::lstat(abs.c_str(), &st) != 0) {
        skip(rel, SkipReason::kUnreadable);
        continue;
      }
      if (S_ISLNK(st.st_mode)) {
        const fs::path target = fs::canonical(abs, ec);  // fails for a broken link or a loop
        skip(rel, !ec && is_under(target, root_) ? SkipReason::kLinkInsideRoot
                                                 : SkipReason::kLinkOutsideRoot);
        continue;
      }
      if (S_ISDIR(st.st_mode)) {
        if (matches(options_.skipped_folders, name)) {
          skip(rel, SkipReason::kSkippedFolder);
          continue;
        }
        auto is_ignored = ignored(rel, name, true);
        if (!is_ignored) return is_ignored.error();
        if (is_ignored.value()) {
          skip(rel, SkipReason::kIgnored);
        } else if (auto ok = walk(abs, rel); !ok) {
          return ok;
        }
        continue;
      }
      if (!S_ISREG(st.st_mode)) {
        skip(rel, SkipReason::kNotRegular);
        continue;
      }
      auto is_ignored = ignored(rel, name, false);
      if (!is_ignored) return is_ignored.error();
      if (is_ignored.value()) {
        skip(rel, SkipReason::kIgnored);
        continue;
      }
      const auto size = static_cast<std::uintmax_t>(st.st_size);
      if (size > options_.max_file_bytes) {
        skip(rel, SkipReason::kTooLarge);
        continue;
      }
      const std::optional<bool> binary = looks_binary(abs, options_.binary_probe_bytes);
      if (!binary) {
        skip(rel, SkipReason::kUnreadable);
      } else if (*binary) {
        skip(rel, SkipReason::kBinary);
      } else {
        out_->files.push_back({rel, size});
      }
    }
    return model::success();
  }

  fs::path root_;
  const WalkOptions& options_;
  git_repository* repo_;
  std::string git_prefix_;  ///< the root relative to the work tree, "" or ending in '/'
  WalkResult* out_ = nullptr;
};

}  // namespace

std::optional<std::string> read_file_contents(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return contents;
}

model::Result<WalkResult, WalkError> walk_repository(const fs::path& root_in,
                                                     const WalkOptions& options) {
  std::error_code ec;
  const fs::path root = fs::canonical(root_in, ec);
  if (ec) return WalkError{"cannot open " + root_in.string() + ": " + ec.message()};
  if (!fs::is_directory(root, ec)) return WalkError{root_in.string() + " is not a directory"};

  const GitLibrary git;
  WalkResult out;
  Repository repo;
  std::string prefix;
  git_repository* raw = nullptr;
  if (git_repository_open_ext(&raw, root.c_str(), 0, nullptr) == 0) {
    repo.reset(raw);
    const char* workdir = git_repository_workdir(raw);
    if (workdir != nullptr) {
      out.in_git = true;
      const fs::path work = fs::canonical(workdir, ec);
      if (ec) return WalkError{"cannot open the work tree " + std::string(workdir)};
      const std::string rel = root.lexically_relative(work).generic_string();
      prefix = rel == "." ? "" : rel + "/";
    } else {
      repo.reset();  // a bare repository has no work tree to walk
    }
  }
  Walker walker(root, options, out.in_git ? repo.get() : nullptr, prefix);
  if (auto ok = walker.run(out); !ok) return ok.error();
  return out;
}

}  // namespace mnemo::indexer
